package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
	"golang.org/x/crypto/ssh"
)

// More fault knobs (issue 7): a node's SSH server back after StopSSH, sudo
// that wants a password, and a restore that uses another cluster token.

// RestartSSH starts a node's SSH server again after StopSSH, on the same
// address and port with the same host key: the node rebooted, or its sshd
// was restarted. The server must have been stopped.
func (l *Lab) RestartSSH(name string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	user, err := loadSigner(filepath.Join(l.opts.Dir, identityFile))
	if err != nil {
		return err
	}
	addr := n.ssh.Addr()
	// Same hooks as Up gives it: the timeline must keep recording every
	// command, or lab verify could not prove the retry's ordering.
	srv, err := sshserver.Start(sshserver.Config{
		Addr:           addr,
		HostKeys:       n.hostKeys,
		AuthorizedKeys: []ssh.PublicKey{user.PublicKey()},
		Command:        n.sshCommand,
		OnExec: func(u, line string, started time.Time) {
			l.tl.add(Event{Time: started, Node: name, Kind: EvSSHExec, Command: line, Detail: "user " + u})
		},
		OnExit: func(u, line string, code int, d time.Duration) {
			l.tl.add(Event{Node: name, Kind: EvSSHExit, Command: line, Exit: &code, Detail: d.String()})
		},
	})
	if err != nil {
		return fmt.Errorf("lab: restart ssh on %s: %w (was it stopped with StopSSH?)", name, err)
	}
	n.ssh = srv
	return nil
}

// sudoWantsPassword is real sudo's behaviour for a user without NOPASSWD:
// with -n it refuses at once with exactly this message and exit 1 (what
// nodes.Runner recognises); without -n and without a terminal it fails too.
const sudoWantsPassword = `#!/bin/sh
# sudo for a drill lab node whose sudoers lacks NOPASSWD (fault knob).
` + sudoResolveWarning + `for a in "$@"; do
  case "$a" in
    -n) echo "sudo: a password is required" >&2; exit 1 ;;
    --) break ;;
  esac
done
echo "sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper" >&2
exit 1
`

// RequireSudoPassword makes sudo on the node want a password (on=true), as
// on a node whose sudoers entry lacks NOPASSWD; on=false restores the lab's
// passwordless sudo.
func (l *Lab) RequireSudoPassword(name string, on bool) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	body := shims["sudo"]
	if on {
		body = sudoWantsPassword
	}
	// Write and rename: a command running sudo right now sees the old or
	// the new shim, never half of one.
	p := filepath.Join(n.dir, "bin", "sudo")
	if err := writeFileAtomic(p, []byte(body), 0o755); err != nil {
		return fmt.Errorf("lab: sudo on %s: %w", name, err)
	}
	return nil
}

// RestoreWithClusterToken makes every `etcdutl snapshot restore` on the node
// use token as its --initial-cluster-token, whatever the caller passed: the
// member is restored into a cluster of its own (an operator who restored
// one member by hand, with another token). This fault cannot be produced
// through etcd-dr itself, so the node gets a host etcdutl of its etcd's
// version that injects it, in /usr/local/bin with a Debian-like sudo whose
// secure_path finds it there: etcd-dr then uses the host's tool.
func (l *Lab) RestoreWithClusterToken(name, token string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	p := filepath.Join(n.dir, "bin", "etcdutl")
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("lab: %s already has an etcdutl in /usr/local/bin (already wrapped?)", name)
	}
	if strings.ContainsAny(token, "'\n") {
		return fmt.Errorf("lab: token %q: no quotes or newlines", token)
	}
	if err := writeFileAtomic(filepath.Join(n.dir, "bin", "sudo"), []byte(sudoShim(secureDebian)), 0o755); err != nil {
		return fmt.Errorf("lab: sudo on %s: %w", name, err)
	}
	wrapper := `#!/bin/sh
# etcdutl wrapped by the lab's RestoreWithClusterToken fault knob.
real=/usr/local/bin/.labbin/` + filepath.Base(l.bins.Etcdutl) + `
tok='` + token + `'
n=$#; skip=
for a in "$@"; do
  if [ -n "$skip" ]; then set -- "$@" "$tok"; skip=
  else case "$a" in
    --initial-cluster-token) set -- "$@" "$a"; skip=1 ;;
    --initial-cluster-token=*) set -- "$@" "--initial-cluster-token=$tok" ;;
    *) set -- "$@" "$a" ;;
  esac; fi
done
shift "$n"
exec "$real" "$@"
`
	if err := writeFileAtomic(p, []byte(wrapper), 0o755); err != nil {
		return fmt.Errorf("lab: wrap etcdutl on %s: %w", name, err)
	}
	return nil
}
