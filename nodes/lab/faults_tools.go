package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// sudoPathDir is, on a node whose sudo hides tools (HideFromSudo), the one
// directory on sudo's secure_path: links to the shims and to every program
// of RHEL's secure_path directories except the hidden ones. In the node's
// /run/lab (the sandbox's ctl dir).
const sudoPathDir = "sudo-path"

// HideFromSudo makes tools not found under sudo on the node, as on a node
// where they are not installed, or only in a directory sudo's secure_path
// leaves out (a hand-installed /usr/local/bin/timeout on RHEL): `sudo -n --
// TOOL` says "sudo: TOOL: command not found" and a script run under sudo
// does not find it, while the login's PATH still does. No tools restores
// the lab's sudo. Real sudo looks a command up on secure_path only and
// hands it secure_path as PATH (env_reset); the lab's sudo does the same,
// so the node's other programs stay where they were.
func (l *Lab) HideFromSudo(name string, tools ...string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	ctl := filepath.Join(n.dir, "ctl")
	dir := filepath.Join(ctl, sudoPathDir)
	body := shims["sudo"]
	if len(tools) > 0 {
		tmp, err := os.MkdirTemp(ctl, sudoPathDir+".tmp-")
		if err != nil {
			return err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		// First one wins, as on secure_path: the shims, then RHEL's order.
		srcs := []struct{ host, node string }{{filepath.Join(n.dir, "ctl", "sbin"), sysShimDir}}
		for _, d := range strings.Split(strings.TrimPrefix(secureRHEL, sysShimDir+":"), ":") {
			srcs = append(srcs, struct{ host, node string }{d, d})
		}
		for _, s := range srcs {
			ents, err := os.ReadDir(s.host) // the node sees the host's /usr/bin (only /etc, /var/lib are its own)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if slices.Contains(tools, e.Name()) || e.IsDir() {
					continue
				}
				if err := os.Symlink(filepath.Join(s.node, e.Name()), filepath.Join(tmp, e.Name())); err != nil && !os.IsExist(err) {
					return fmt.Errorf("lab: %s's sudo path: %w", name, err)
				}
			}
		}
		_ = os.RemoveAll(dir)
		if err := os.Rename(tmp, dir); err != nil {
			return err
		}
		body = sudoShim("/run/lab/" + sudoPathDir)
	}
	// Write and rename: a command running sudo right now sees the old or
	// the new shim, never half of one.
	if err := writeFileAtomic(filepath.Join(n.dir, "bin", "sudo"), []byte(body), 0o755); err != nil {
		return fmt.Errorf("lab: sudo on %s: %w", name, err)
	}
	if len(tools) == 0 {
		return os.RemoveAll(dir)
	}
	return nil
}

// injectToolMissing hides tool from sudo on the node (faults
// "no-pgrep-under-sudo" and the like).
func injectToolMissing(tool string) func(context.Context, *Lab, string) (func() error, error) {
	return func(_ context.Context, l *Lab, node string) (func() error, error) {
		return func() error { return l.HideFromSudo(node) }, l.HideFromSudo(node, tool)
	}
}
