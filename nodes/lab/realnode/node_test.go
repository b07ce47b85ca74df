package realnode_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	. "github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// TestMain lets the test binary serve as a real listener inside a node:
// with REALNODE_LISTEN=addr it accepts connections and answers each with
// the hostname and /etc/hostname it sees (its UTS and mount namespaces).
func TestMain(m *testing.M) {
	if addr := os.Getenv("REALNODE_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println("listening")
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(4)
			}
			h, _ := os.Hostname()
			f, _ := os.ReadFile("/etc/hostname")
			fmt.Fprintf(c, "%s %s\n", h, strings.TrimSpace(string(f)))
			_ = c.Close()
		}
	}
	os.Exit(m.Run())
}

// newTestNet makes slot's network for one test and removes it (nodes,
// namespaces, bridge, mounts) when the test ends, however it ends.
func newTestNet(t *testing.T, slot int) (*Net, string) {
	t.Helper()
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	release, err := LockSlot(slot, func(p string) { t.Logf("slot %d is in use by another process (%s); waiting", slot, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release) // registered first: runs after the net's cleanup
	ctx := context.Background()
	n, err := NewNet(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	t.Cleanup(func() {
		n.Close(ctx)
		ReleaseDir(dir)
	})
	return n, dir
}

// realBins builds (or finds cached) kubeadm and kubelet; a cold build takes
// many minutes on a shared 2-core machine, so the deadline only bounds a
// hang.
func realBins(t *testing.T) lab.RealBinaries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	rb, err := lab.EnsureRealBinaries(ctx, "", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	return rb
}

// TestNodeNetwork: two nodes with their own addresses; a real listener in
// cp-1 on its node address answers the bastion and cp-2 with cp-1's
// hostname and /etc/hostname; a node cannot reach this machine's own
// network (no default route); removing the node kills what ran in it.
func TestNodeNetwork(t *testing.T) {
	n, dir := newTestNet(t, 15)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // bounds a hang only
	defer cancel()
	cp1, err := n.AddNode(ctx, dir, "cp-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := n.AddNode(ctx, dir, "cp-2", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cp1.Addr.String(), "198.51.100.242"; got != want {
		t.Fatalf("cp-1 address %s, want %s", got, want)
	}
	self, _ := os.Executable()
	lis := cp1.Command(ctx, self)
	lis.Env = append(os.Environ(), "REALNODE_LISTEN="+cp1.Addr.String()+":2379")
	stdout, _ := lis.StdoutPipe()
	lis.Stderr = os.Stderr
	if err := lis.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lis.Process.Kill(); _ = lis.Wait() }()
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); line != "listening\n" {
		t.Fatalf("listener in cp-1: %q", line)
	}

	for _, tc := range []struct{ name, from string }{
		{"bastion", ""},
		{"cp-2", "cp-2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out []byte
			var err error
			if tc.from == "" {
				var c net.Conn
				c, err = net.DialTimeout("tcp", cp1.Addr.String()+":2379", 10*time.Second)
				if err == nil {
					out, err = bufio.NewReader(c).ReadBytes('\n')
					c.Close()
				}
			} else {
				// bash's /dev/tcp: a real connect from cp-2's namespace.
				out, err = cp2.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/"+cp1.Addr.String()+"/2379; head -1 <&3").CombinedOutput()
			}
			if err != nil {
				t.Fatalf("dial cp-1: %v %s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "cp-1 cp-1" {
				t.Fatalf("cp-1 answered %q, want its hostname twice", got)
			}
		})
	}
	if out, err := cp1.Command(ctx, "bash", "-c", "exec 3<>/dev/tcp/192.0.2.1/22").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "unreachable") {
		t.Fatalf("cp-1 reached this machine's network: err=%v %s", err, out)
	}
	if _, err := os.Stat("/etc/kubernetes/manifests"); err == nil {
		t.Fatalf("the host has /etc/kubernetes/manifests: a node's mount leaked")
	}
	if _, err := os.Stat(cp1.Dir + "/etc.upper/kubernetes/manifests"); err != nil {
		t.Fatalf("cp-1's /etc/kubernetes/manifests is not in its own dir: %v", err)
	}

	cp1.Remove(ctx)
	if err := lis.Wait(); err == nil {
		t.Fatal("the listener in cp-1 survived the node's removal")
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.NetnsName("cp-1")) {
		t.Fatalf("cp-1's netns is left: %s", out)
	}
}
