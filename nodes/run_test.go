package nodes

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

// servers starts one in-process node and one OpenSSH node and returns a
// Runner for both: most behaviour must hold against both.
func servers(t *testing.T, mod func(*Params)) (*Runner, []string) {
	t.Helper()
	e := newEnv(t)
	a, _ := e.inproc(t, "inproc-1", nil)
	b, _ := e.sshd(t, "openssh-1")
	return e.runner(t, []Target{a, b}, mod), []string{a.Name, b.Name}
}

type lineLog struct {
	mu    sync.Mutex
	lines []Line
}

func (l *lineLog) add(x Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, x)
}

func (l *lineLog) all() []Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Line(nil), l.lines...)
}

func TestRunReportsOutputExitStatusAndLines(t *testing.T) {
	r, names := servers(t, nil)
	tests := []struct {
		name     string
		cmd      Cmd
		stdin    string
		wantOut  string
		wantErr  string
		wantCode int
		wantKind any
	}{
		{name: "a command that succeeds returns its stdout and status 0",
			cmd: Cmd{Args: []string{"printf", "%s\n", "one", "two"}}, wantOut: "one\ntwo\n"},
		{name: "a command that fails returns its status and an ExitError naming the last stderr line",
			cmd: Cmd{Script: "echo first >&2; echo 'disk full' >&2; exit 3"}, wantErr: "first\ndisk full\n", wantCode: 3, wantKind: &ExitError{}},
		{name: "stdin reaches the remote command",
			cmd: Cmd{Args: []string{"cat"}}, stdin: "snapshot bytes\n", wantOut: "snapshot bytes\n"},
	}
	for _, node := range names {
		for _, tt := range tests {
			t.Run(node+"/"+tt.name, func(t *testing.T) {
				var got lineLog
				cmd := tt.cmd
				if tt.stdin != "" {
					cmd.Stdin = strings.NewReader(tt.stdin)
				}
				res, err := r.Run(context.Background(), node, cmd, got.add)
				if res.ExitCode != tt.wantCode || res.Stdout != tt.wantOut || res.Stderr != tt.wantErr {
					t.Fatalf("got code %d stdout %q stderr %q (err %v)", res.ExitCode, res.Stdout, res.Stderr, err)
				}
				if tt.wantKind == nil && err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				var ee *ExitError
				if tt.wantKind != nil && (!errors.As(err, &ee) || !strings.Contains(err.Error(), "exited with status 3: disk full")) {
					t.Fatalf("want ExitError ending in the last stderr line, got %v", err)
				}
				var text []string
				for _, l := range got.all() {
					if l.Node != node {
						t.Errorf("line %q has node %q", l.Text, l.Node)
					}
					text = append(text, l.Stream.String()+":"+l.Text)
				}
				wantLines := linesOf("stdout", tt.wantOut) + linesOf("stderr", tt.wantErr)
				if strings.Join(text, "|") != wantLines {
					t.Errorf("lines %q, want %q", strings.Join(text, "|"), wantLines)
				}
			})
		}
	}
}

func linesOf(stream, s string) string {
	if s == "" {
		return ""
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		out = append(out, stream+":"+l)
	}
	return strings.Join(out, "|")
}

func TestLinesStreamWhileTheCommandRuns(t *testing.T) {
	r, names := servers(t, nil)
	for _, node := range names {
		t.Run(node, func(t *testing.T) {
			var got lineLog
			res, err := r.Run(context.Background(), node, Cmd{Script: "echo early; sleep 1; echo late"}, got.add)
			if err != nil {
				t.Fatal(err)
			}
			lines := got.all()
			if len(lines) != 2 {
				t.Fatalf("lines %v", lines)
			}
			if gap := lines[1].Time.Sub(lines[0].Time); gap < 700*time.Millisecond {
				t.Errorf("first line arrived only %v before the second: not streamed", gap)
			}
			if res.Duration < time.Second {
				t.Errorf("duration %v < 1s", res.Duration)
			}
		})
	}
}

// sleeper is one timed-out run of a script that prints a background
// sleeper's pid as its first stdout line.
type sleeper struct {
	pid     int
	res     Result
	timeout time.Duration
	start   time.Time // before the command was sent
}

// runSleeper runs cmd (whose script prints a background sleeper's pid as
// its first line) until its timeout fires. A timeout only tests the kill
// if the command had started by then, and on a loaded machine (2 cores at
// load 20) starting a session can take seconds: the run is repeated with
// the timeout doubled, from 500ms up to 16s, until the sleeper's pid
// arrived within it. The process of a try that never started is ended by
// etcd-dr's kill once its pid line shows (see stopRemote).
func runSleeper(t *testing.T, r *Runner, node string, cmd Cmd) sleeper {
	t.Helper()
	var last Result
	for timeout := 500 * time.Millisecond; timeout <= 16*time.Second; timeout *= 2 {
		pids := make(chan int, 1)
		cmd.Timeout = timeout
		start := time.Now()
		res, _ := r.Run(context.Background(), node, cmd, func(l Line) {
			if pid, err := strconv.Atoi(l.Text); err == nil && len(pids) == 0 {
				pids <- pid
			}
		})
		select {
		case pid := <-pids:
			return sleeper{pid: pid, res: res, timeout: timeout, start: start}
		default:
			last = res
		}
	}
	t.Fatalf("the command never printed its sleeper's pid within 16s; last result %+v", last)
	return sleeper{}
}

// waitGoneBefore fails unless pid is gone before the deadline: a deadline
// taken from the node's own backstop, so meeting it proves etcd-dr's kill
// ended the process, however slow the machine.
func waitGoneBefore(t *testing.T, pid int, deadline time.Time, why string) {
	t.Helper()
	for !nodetest.ProcessGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs: %s", pid, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTimeoutEndsTheRemoteProcess(t *testing.T) {
	r, names := servers(t, nil)
	tests := []struct {
		name   string
		script string
	}{
		{name: "a command that obeys SIGTERM is gone", script: "sleep 300 & echo $!; wait"},
		{name: "a command that ignores SIGTERM is gone after SIGKILL", script: "trap '' TERM; sleep 300 & echo $!; wait; wait"},
	}
	for _, node := range names {
		for _, tt := range tests {
			t.Run(node+"/"+tt.name, func(t *testing.T) {
				s := runSleeper(t, r, node, Cmd{Script: tt.script})
				var te *TimeoutError
				if !errors.As(s.res.Err, &te) || s.res.ExitCode != -1 {
					t.Fatalf("want TimeoutError and code -1, got %d %v", s.res.ExitCode, s.res.Err)
				}
				if !strings.Contains(s.res.Err.Error(), "on "+node+", ") || !strings.Contains(s.res.Err.Error(), "did not finish within "+s.timeout.String()) {
					t.Errorf("message %q does not name node and timeout", s.res.Err)
				}
				// Run has returned: etcd-dr's TERM and KILL are sent (or,
				// node unreachable, the node's backstop is armed for
				// timeout + 2*killGrace after the command started). What
				// is asserted is that the process ends, not how fast: a
				// process nobody killed (sleep 300) outlives the deadline
				// five times over, while a minute absorbs the kill's second
				// SSH session starting late on a loaded machine (sessions
				// took 11-14 s to start at load 10 on 2 cores). Measured
				// from Run's return, not the command's start, since a slow
				// session start delays etcd-dr's timer and kill with it.
				waitGoneBefore(t, s.pid, time.Now().Add(time.Minute), "neither etcd-dr's kill nor the node's backstop ended it")
			})
		}
	}
}

func TestCancellingTheContextEndsTheRemoteProcess(t *testing.T) {
	r, names := servers(t, nil)
	for _, node := range names {
		t.Run(node, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			pids := make(chan int, 1)
			done := make(chan Result, 1)
			go func() {
				res, _ := r.Run(ctx, node, Cmd{Script: "sleep 300 & echo $!; wait"}, func(l Line) {
					if pid, err := strconv.Atoi(l.Text); err == nil {
						pids <- pid
					}
				})
				done <- res
			}()
			pid := <-pids
			cancel()
			res := <-done
			if !errors.Is(res.Err, context.Canceled) {
				t.Fatalf("want context.Canceled, got %v", res.Err)
			}
			nodetest.WaitGone(t, pid, time.Second)
		})
	}
}

func TestSudoWantingAPasswordIsAClearErrorNotAHang(t *testing.T) {
	e := newEnv(t)
	// FAKE sudo scripts (sudo is not installed here): see fakeSudoDir.
	cp2, _ := e.inproc(t, "cp-2", withPath(fakeSudoDir(t, passwordSudo)))
	cp3, _ := e.inproc(t, "cp-3", withPath(fakeSudoDir(t, passSudo)))
	r := e.runner(t, []Target{cp2, cp3}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	res, err := r.Run(ctx, "cp-2", Cmd{Args: []string{"mv", "/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/parked/"}, Sudo: true}, nil)
	var se *SudoPasswordError
	if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "sudo on cp-2 wants a password; etcd-dr needs passwordless sudo (NOPASSWD)") {
		t.Fatalf("want SudoPasswordError, got %v (%+v)", err, res)
	}
	if ctx.Err() != nil {
		t.Fatal("sudo hung until the test deadline")
	}
	res, err = r.Run(ctx, "cp-3", Cmd{Args: []string{"echo", "as root"}, Sudo: true}, nil)
	if err != nil || res.Stdout != "as root\n" {
		t.Fatalf("passwordless sudo: %q %v", res.Stdout, err)
	}
}

func TestAnOrdinaryFailureMentioningSudoIsNotASudoError(t *testing.T) {
	r, names := servers(t, nil)
	_, err := r.Run(context.Background(), names[0], Cmd{Script: "echo 'sudo: a password is required' >&2; exit 1"}, nil)
	var se *SudoPasswordError
	if errors.As(err, &se) {
		t.Fatal("a command without Sudo was reported as a sudo problem")
	}
}

func TestTheNodeEndsACommandAtItsDeadlineWhenEtcdDrIsGone(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.sshd(t, "cp-1")
	r := e.runner(t, []Target{tg}, nil)
	pids := make(chan int, 1)
	done := make(chan Result, 1)
	go func() {
		res, _ := r.Run(context.Background(), "cp-1", Cmd{Script: "sleep 300 & echo $!; wait", Timeout: time.Second}, func(l Line) {
			if pid, err := strconv.Atoi(l.Text); err == nil {
				pids <- pid
			}
		})
		done <- res
	}()
	pid := <-pids
	start := time.Now()
	// etcd-dr vanishes (crash, lost bastion): no signal, no kill command.
	// Without a pty, OpenSSH leaves the command running.
	_ = r.Close()
	if res := <-done; res.Err == nil {
		t.Fatal("command reported success after its connection closed")
	}
	time.Sleep(500 * time.Millisecond)
	if nodetest.ProcessGone(pid) {
		t.Fatal("process ended on disconnect: this test no longer proves the node's own deadline")
	}
	nodetest.WaitGone(t, pid, 8*time.Second)
	if took := time.Since(start); took > 1*time.Second+2*killGrace+4*time.Second {
		t.Errorf("ended %v after the disconnect", took)
	}
}

func TestANodeWithoutTimeoutIsToldToInstallCoreutils(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.inproc(t, "cp-1", withoutTimeout(t))
	r := e.runner(t, []Target{tg}, nil)
	_, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "cp-1 has no timeout(1) command") {
		t.Fatalf("got %v", err)
	}
}

func TestARefusedSessionDoesNotKillTheNodesOtherCommands(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.sshd(t, "cp-1", "MaxSessions 1")
	r := e.runner(t, []Target{tg}, nil)
	started := make(chan struct{})
	done := make(chan Result, 1)
	go func() {
		res, _ := r.Run(context.Background(), "cp-1", Cmd{Script: "echo up; sleep 1; echo done"}, func(l Line) {
			if l.Text == "up" {
				close(started)
			}
		})
		done <- res
	}()
	<-started
	_, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "MaxSessions") {
		t.Fatalf("second session: %v, want a MaxSessions hint", err)
	}
	if res := <-done; !res.OK() || res.Stdout != "up\ndone\n" {
		t.Fatalf("first command: %+v", res)
	}
}
