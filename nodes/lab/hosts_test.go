package lab

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A real sudo warns on stderr, before the command runs, when the node's own
// name does not resolve; the lab's cp-1 is such a node, every other is not.
func TestLabSudoWarnsOnlyWhereTheHostnameDoesNotResolve(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
	}{
		{"cp-1", "sudo: unable to resolve host cp-1: Name or service not known\n"},
		{"cp-2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.name)
			etc := filepath.Join(dir, "upper", "etc")
			if err := os.MkdirAll(etc, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := writeEtcHosts(etc, tc.name); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "root"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "root", "sudo"), []byte(sudoShim(secureDebian)), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // namespace setup, generous
			defer cancel()
			n, err := startNode(ctx, nodeSpec{Name: tc.name, Addr: "127.0.10.9"}, dir, "")
			if err != nil {
				t.Fatal(err)
			}
			defer n.stop()
			got, err := n.shell(ctx, "/root/sudo -n -- sh -c 'echo out' 2>/root/err >/root/out; cat /root/err; echo ---; cat /root/out")
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.wantErr + "---\nout\n"; got != want {
				t.Fatalf("sudo's stderr, ---, stdout = %q, want %q", got, want)
			}
		})
	}
}
