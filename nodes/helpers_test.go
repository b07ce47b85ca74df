package nodes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// withPath makes an in-process node run commands with dir first on PATH.
func withPath(dir string) func(*sshserver.Config) {
	return func(c *sshserver.Config) {
		c.Command = func(ctx context.Context, line string, env []string) *exec.Cmd {
			cmd := exec.Command("/bin/sh", "-c", line)
			cmd.Env = append(append(os.Environ(), env...), "PATH="+dir+":"+os.Getenv("PATH"))
			return cmd
		}
	}
}

// Fake sudo scripts, for servers without sudo installed. passwordSudo
// prints what real sudo -n prints for a user without NOPASSWD; passSudo
// runs the command after "--" as real passwordless sudo does.
const (
	passwordSudo = "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"
	passSudo     = "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done; shift; exec \"$@\"\n"
)

// fakeSudoDir writes a FAKE sudo with script into a new directory (to put
// first on PATH) and returns the directory.
func fakeSudoDir(t *testing.T, script string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// withoutTimeout makes an in-process node whose PATH has only sh, as on a
// node without coreutils' timeout(1).
func withoutTimeout(t *testing.T) func(*sshserver.Config) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink("/bin/sh", filepath.Join(dir, "sh")); err != nil {
		t.Fatal(err)
	}
	return func(c *sshserver.Config) {
		c.Command = func(ctx context.Context, line string, env []string) *exec.Cmd {
			cmd := exec.Command("/bin/sh", "-c", line)
			cmd.Env = append(env, "PATH="+dir)
			return cmd
		}
	}
}
