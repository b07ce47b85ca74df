package nodes

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

// Host keys are checked without holding the lock; recording a new key takes
// it and checks again, so dials racing to the same unknown address (two
// names for one node) record its key once, and every other key once too.
func TestAcceptNewFromManyDialsAtOnceRecordsEachKeyOnce(t *testing.T) {
	e := newEnv(t)
	const n, aliases = 20, 16 // node-00 has 16 names: their dials race
	var targets []Target
	var names []string
	want := map[string]bool{}
	for i := range n {
		node := nodetest.StartNode(t, fmt.Sprintf("node-%02d", i), e.client.Signer.PublicKey(), nil)
		host, port := nodetest.HostPort(t, node.Addr())
		want[nodetest.KnownHostsLine(node.Addr(), node.HostKey.Signer.PublicKey())] = true
		names1 := 1
		if i == 0 {
			names1 = aliases
		}
		for j := range names1 {
			name := fmt.Sprintf("node-%02d-%d", i, j)
			targets = append(targets, Target{Name: name, Host: host, Port: port, User: "ops"})
			names = append(names, name)
		}
	}
	build := func(string) Cmd { return Cmd{Args: []string{"true"}} }
	r := e.runner(t, targets, func(p *Params) { p.AcceptNew, p.Concurrency = true, len(targets) })
	for _, res := range r.FanOut(context.Background(), names, build, nil) {
		if !res.OK() {
			t.Fatalf("accept-new fan-out: %s: %v", res.Node, res.Err)
		}
	}
	b, err := os.ReadFile(e.known)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	seen := map[string]int{}
	for _, l := range lines {
		seen[l]++
		if !want[l] || seen[l] > 1 {
			t.Errorf("known_hosts line %q: unexpected or repeated (seen %d times)", l, seen[l])
		}
	}
	if len(seen) != n {
		t.Errorf("known_hosts holds %d distinct keys, want %d", len(seen), n)
	}
	strict := e.runner(t, targets, nil)
	for _, res := range strict.FanOut(context.Background(), names, build, nil) {
		if !res.OK() {
			t.Errorf("strict run after accept-new: %s: %v", res.Node, res.Err)
		}
	}
}

// BenchmarkColdFanOut is what a step pays on its first command: a new
// Runner (keys, known_hosts) dialing every node, then one command each.
// The same race made certain: many checks of one unknown key all find it
// unknown before any of them records it.
func TestConcurrentChecksOfOneNewKeyAppendItOnce(t *testing.T) {
	known := t.TempDir() + "/known_hosts"
	hk, err := newHostKeys([]string{known}, true)
	if err != nil {
		t.Fatal(err)
	}
	key := nodetest.NewKey(t).Signer.PublicKey()
	const addr = "127.0.0.1:2222"
	var checked sync.WaitGroup
	checked.Add(50)
	hk.beforeRecord = func() { checked.Done(); checked.Wait() }
	start := make(chan struct{})
	errs := make(chan error, 50)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			<-start
			errs <- hk.callback(fmt.Sprint("alias-", i))(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}, key)
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("accept-new check: %v", err)
		}
	}
	b, _ := os.ReadFile(known)
	if want := nodetest.KnownHostsLine(addr, key) + "\n"; string(b) != want {
		t.Errorf("known_hosts after 50 concurrent checks:\n%s\nwant the one line\n%s", b, want)
	}
}

func BenchmarkColdFanOut(b *testing.B) {
	for _, n := range []int{50, 200} {
		b.Run(strconv.Itoa(n)+"-nodes", func(b *testing.B) {
			e := &testEnv{dir: b.TempDir(), client: nodetest.NewKey(b)}
			e.keyFile = e.client.WriteFile(b, e.dir, "id_ed25519", 0o600, "")
			e.known = e.dir + "/known_hosts"
			targets, names := fleet(b, e, n, nil)
			build := func(string) Cmd { return Cmd{Args: []string{"true"}} }
			for b.Loop() {
				r, err := New(Params{Nodes: targets, IdentityFiles: []string{e.keyFile}, KnownHosts: e.known, Concurrency: 100})
				if err != nil {
					b.Fatal(err)
				}
				for _, res := range r.FanOut(context.Background(), names, build, nil) {
					if !res.OK() {
						b.Fatal(res.Err)
					}
				}
				r.Close()
			}
		})
	}
}
