package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// startShimNode starts a lab node with the ss shim and its address file, as
// prepareNode writes them.
func startShimNode(t *testing.T, name, addr string) *node {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "ctl", "sbin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ctl", "sbin", "ss"), []byte(ssShim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeNodeAddress(dir, addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := startNode(ctx, nodeSpec{Name: name, Addr: addr}, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

// listen starts a process on n listening on addr (host:port), and waits
// until the real ss lists it.
func listen(t *testing.T, n *node, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	py := fmt.Sprintf("import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind((%q,%s))\ns.listen()\ntime.sleep(600)", host, port)
	// Deadline: python's start on a loaded machine, not a timing assertion.
	line := fmt.Sprintf("(python3 -c %s >/dev/null 2>&1 &); for i in $(seq 300); do /usr/bin/ss -Hltn | grep -q ' %s ' && exit 0; sleep 0.1; done; exit 1",
		shellQuote(py), strings.ReplaceAll(addr, ".", "\\."))
	if _, err := n.shell(context.Background(), line); err != nil {
		t.Fatalf("listener %s on %s: %v", addr, n.spec.Name, err)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestANodesSSListsItsOwnSocketsNotOtherNodes(t *testing.T) {
	labtest.Block(t, 207)
	a := startShimNode(t, "cp-1", "127.207.0.1")
	b := startShimNode(t, "cp-2", "127.207.0.2")
	listen(t, a, "127.207.0.1:2379")
	listen(t, b, "127.207.0.2:2379")
	listen(t, b, "0.0.0.0:47207")
	// The host (the lab daemon, another lab) on a lab address and on
	// 127.0.0.1: no node's process holds either.
	for _, addr := range []string{"127.207.0.9:2379", "127.0.0.1:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	tests := []struct {
		name      string
		n         *node
		cmd       string
		want, not []string
	}{
		{"cp-1 lists its own listener and not cp-2's or another lab address's", a, "ss -Hltn",
			[]string{"127.207.0.1:2379"}, []string{"127.207.0.2:2379", "127.207.0.9:2379", "users:(("}},
		{"cp-2 lists its own address and its wildcard listener", b, "ss -Hltn",
			[]string{"127.207.0.2:2379", "0.0.0.0:47207"}, []string{"127.207.0.1:2379"}},
		// Never kinder than a real node: a wildcard or 127.0.0.1 listener
		// could be this node's, so it stays even when another holds it.
		{"cp-1 still lists a wildcard and a 127.0.0.1 listener it cannot prove are not its own", a, "ss -Hltn",
			[]string{"0.0.0.0:47207", "127.0.0.1:"}, nil},
		{"with -p cp-1 names its own process", a, "ss -Hltnp",
			[]string{"127.207.0.1:2379", `users:(("python3"`}, []string{"127.207.0.2:2379"}},
		{"sudo finds the same shim first on secure_path", a, "PATH=" + secureRHEL + " ss -Hltn",
			[]string{"127.207.0.1:2379"}, []string{"127.207.0.2:2379"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.n.shell(context.Background(), tt.cmd)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s on %s: want %q in\n%s", tt.cmd, tt.n.spec.Name, w, got)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("%s on %s: want no %q in\n%s", tt.cmd, tt.n.spec.Name, w, got)
				}
			}
		})
	}
}
