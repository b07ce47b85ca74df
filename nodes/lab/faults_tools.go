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

// loginPathDir, in the node's ctl dir, holds HideFromLogin's copies of
// the login PATH's directories that hold a hidden program.
const loginPathDir = "login-path.d"

// HideFromLogin makes tools not found on the PATH of the login's SSH
// commands on the node, as on a minimal node where their package is not
// installed (or they lie outside that PATH): a command run as the login
// says "ss: not found", a lookup along PATH finds nothing. Each directory
// of the login's PATH that holds one of tools is replaced, in place, by a
// directory of links to everything else in it; the others stay as they
// are. Sudo's secure_path is not changed (HideFromSudo does that). No
// tools restores the login's PATH.
func (l *Lab) HideFromLogin(name string, tools ...string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	ctl := filepath.Join(n.dir, "ctl")
	file, dir := filepath.Join(ctl, loginPathFile), filepath.Join(ctl, loginPathDir)
	if len(tools) == 0 {
		if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
			return err
		}
		return os.RemoveAll(dir)
	}
	// Where the node's PATH directories are, seen from the lab daemon:
	// only /run/lab and /usr/local/bin are the node's own.
	host := func(d string) string {
		switch d {
		case sysShimDir:
			return filepath.Join(ctl, "sbin")
		case "/usr/local/bin":
			return filepath.Join(n.dir, "bin")
		}
		return d
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	var path []string
	for i, d := range strings.Split(nodePath, ":") {
		ents, err := os.ReadDir(host(d))
		if err != nil || !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return slices.Contains(tools, e.Name()) }) {
			path = append(path, d)
			continue
		}
		sub := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		for _, e := range ents {
			if slices.Contains(tools, e.Name()) {
				continue
			}
			if err := os.Symlink(filepath.Join(d, e.Name()), filepath.Join(sub, e.Name())); err != nil {
				return fmt.Errorf("lab: %s's login PATH: %w", name, err)
			}
		}
		path = append(path, "/run/lab/"+loginPathDir+"/"+fmt.Sprint(i))
	}
	return writeFileAtomic(file, []byte(strings.Join(path, ":")+"\n"), 0o644)
}

// injectLoginToolMissing hides tool from the login's PATH on the node
// (fault "no-ss-on-login-path").
func injectLoginToolMissing(tool string) func(context.Context, *Lab, string) (func() error, error) {
	return func(_ context.Context, l *Lab, node string) (func() error, error) {
		return func() error { return l.HideFromLogin(node) }, l.HideFromLogin(node, tool)
	}
}
