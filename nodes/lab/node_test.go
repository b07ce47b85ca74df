package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startTestNode starts one lab node in a temp sandbox and stops it at cleanup.
func startTestNode(t *testing.T, name, addr string) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := startNode(ctx, nodeSpec{Name: name, Addr: addr}, filepath.Join(t.TempDir(), name), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

func TestNodesSeeOnlyTheirOwnFilesProcessesAndHostname(t *testing.T) {
	a := startTestNode(t, "cp-1", "127.0.10.1")
	b := startTestNode(t, "cp-2", "127.0.10.2")
	ctx := context.Background()
	if _, err := a.shell(ctx, "mkdir -p /etc/kubernetes/manifests && echo a > /etc/kubernetes/manifests/only-a.yaml && (sleep 31337 >/dev/null 2>&1 &)"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/kubernetes/manifests/only-a.yaml"); err == nil {
		t.Fatal("a node's write to /etc reached the host's /etc")
	}
	tests := []struct {
		name string
		n    *node
		line string
		want string
	}{
		{"cp-1 lists its own manifest", a, "ls /etc/kubernetes/manifests", "only-a.yaml\n"},
		{"cp-2 does not see cp-1's manifest", b, "ls /etc/kubernetes/manifests 2>&1 || true", "No such file"},
		{"cp-1 sees its own process", a, "pgrep -f '^sleep 31337' >/dev/null && echo found", "found\n"},
		{"cp-2 does not see cp-1's process", b, "pgrep -f '^sleep 31337' || echo none", "none\n"},
		{"cp-2 has its own hostname", b, "cat /proc/sys/kernel/hostname", "cp-2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.n.shell(ctx, tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("%s: got %q, want it to contain %q", tt.line, got, tt.want)
			}
		})
	}
}
