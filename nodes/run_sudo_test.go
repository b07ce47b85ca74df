package nodes

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// warningRootSudo is a FAKE sudo (sudo is not installed here) with the two
// traits of real sudo on a cloud VM that matter to the kill: it prints
// "unable to resolve host" before it runs anything, and the command it runs
// is out of reach of the login user's SSH "signal" (real sudo's command
// runs as root). The shim ignores TERM and runs the command as its child,
// which timeout(1) moves into a process group of its own; a KILL sent to
// the session therefore ends only the shim. Only etcd-dr's kill(1) of the
// command's process group, sent through sudo, ends the command.
const warningRootSudo = `#!/bin/sh
echo "sudo: unable to resolve host $(hostname): Name or service not known" >&2
while [ "$1" != -- ]; do shift; done; shift
trap '' TERM
env -- "$@"
`

func TestTheRemoteKillReachesTheCommandWhenSudoWarnsFirst(t *testing.T) {
	e := newEnv(t)
	bin := fakeSudoDir(t, warningRootSudo)
	a, _ := e.inproc(t, "inproc-1", withPath(bin))
	// OpenSSH sets PATH itself; SetEnv overrides it for the session.
	b, _ := e.sshd(t, "openssh-1", "SetEnv PATH="+bin+":/usr/local/bin:/usr/bin:/bin")
	r := e.runner(t, []Target{a, b}, nil)
	// The sleeper ignores TERM, so only a KILL ends it. The node's own
	// backstop sends KILL no earlier than timeout + 2*killGrace +
	// remoteKillAfter after the start: gone before that, etcd-dr's kill
	// reached it.
	for _, node := range []string{a.Name, b.Name} {
		t.Run(node, func(t *testing.T) {
			s := runSleeper(t, r, node, Cmd{Script: "trap '' TERM; sleep 300 & echo $!; wait; wait", Sudo: true})
			var te *TimeoutError
			if !errors.As(s.res.Err, &te) {
				t.Fatalf("want TimeoutError, got %v (%+v)", s.res.Err, s.res)
			}
			if !strings.HasPrefix(s.res.Stderr, "sudo: unable to resolve host") {
				t.Fatalf("sudo's warning is not the first stderr line, so this test proves nothing: %q", s.res.Stderr)
			}
			backstop := s.timeout + 2*killGrace + 5*time.Second
			waitGoneBefore(t, s.pid, s.start.Add(backstop), "etcd-dr's kill missed it")
		})
	}
}

// stuckSudo is a FAKE sudo that never runs its command (stuck on a PAM
// module or a dead LDAP server, say): no pid line ever comes.
const stuckSudo = "#!/bin/sh\ntrap '' TERM\nexec sleep 120\n"

func TestACommandThatNeverNamesItsPidIsGivenUpAfterTheStopRounds(t *testing.T) {
	e := newEnv(t)
	bin := fakeSudoDir(t, stuckSudo)
	// OpenSSH here refuses "signal" requests (no privilege separation as a
	// non-root sshd), so only the Runner's own rounds end the wait.
	b, _ := e.sshd(t, "openssh-1", "SetEnv PATH="+bin+":/usr/local/bin:/usr/bin:/bin")
	r := e.runner(t, []Target{b}, nil)
	done := make(chan Result, 1)
	go func() {
		res, _ := r.Run(context.Background(), b.Name, Cmd{Args: []string{"true"}, Sudo: true, Timeout: 500 * time.Millisecond}, nil)
		done <- res
	}()
	// The stop rounds take at most 3*killGrace after the timeout; the stuck
	// sudo would hold Run for its 120s. A minute tells the two apart
	// however slow the machine.
	select {
	case res := <-done:
		var te *TimeoutError
		if !errors.As(res.Err, &te) {
			t.Fatalf("want TimeoutError, got %v", res.Err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still waits a minute after the timeout: a stop round waited for a pid line that never came")
	}
}

// quietingSudo is a FAKE sudo (not installed here) that warns as real sudo
// does on a node whose name does not resolve, then runs the command.
const quietingSudo = `#!/bin/sh
echo "sudo: unable to resolve host $(hostname): Name or service not known" >&2
while [ "$1" != -- ]; do shift; done; shift
exec "$@"
`

func TestAFailedSudoCommandIsNamedByItsOwnErrorNotBySudosWarning(t *testing.T) {
	e := newEnv(t)
	bin := fakeSudoDir(t, quietingSudo)
	a, _ := e.inproc(t, "inproc-1", withPath(bin))
	r := e.runner(t, []Target{a}, nil)
	for _, tc := range []struct {
		name, script, wantTail string
	}{
		{"the command's last line is the cause", "echo 'Error: no space left on device' >&2; exit 3", "Error: no space left on device"},
		{"a silent failure has no cause, not the warning", "exit 3", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Run(context.Background(), a.Name, Cmd{Script: tc.script, Sudo: true, Timeout: time.Minute}, nil)
			var ee *ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("want ExitError, got %v (%+v)", err, res)
			}
			if !strings.HasPrefix(res.Stderr, "sudo: unable to resolve host") {
				t.Fatalf("sudo's warning is not in stderr, so this test proves nothing: %q", res.Stderr)
			}
			if ee.Tail != tc.wantTail {
				t.Errorf("Tail = %q, want %q", ee.Tail, tc.wantTail)
			}
		})
	}
}

func TestStderrWithoutSudoWarnings(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain\n", "plain\n"},
		{"sudo: unable to resolve host cp-1: Name or service not known\n", ""},
		{"sudo: unable to resolve host cp-1: Name or service not known\nError: boom\n", "Error: boom\n"},
		{"sudo: unable to resolve host raspi4: No address associated with hostname\nsudo: etcdutl: command not found\n", "sudo: etcdutl: command not found\n"},
		{"a\nsudo: unable to resolve host x: Temporary failure in name resolution\nb", "a\nb"},
		{"sudo: a password is required\n", "sudo: a password is required\n"},
	} {
		if got := StderrWithoutSudoWarnings(tc.in); got != tc.want {
			t.Errorf("StderrWithoutSudoWarnings(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
