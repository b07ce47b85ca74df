package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// fleet starts n in-process nodes named node-000... sharing one identity
// and known_hosts; mod (optional) adjusts each server.
func fleet(t testing.TB, e *testEnv, n int, mod func(*sshserver.Config)) ([]Target, []string) {
	t.Helper()
	var targets []Target
	var names []string
	for i := range n {
		name := fmt.Sprintf("node-%03d", i)
		node := nodetest.StartNode(t, name, e.client.Signer.PublicKey(), mod)
		nodetest.AppendKnownHosts(t, e.known, node.Addr(), node.HostKey.Signer.PublicKey())
		host, port := nodetest.HostPort(t, node.Addr())
		targets = append(targets, Target{Name: name, Host: host, Port: port, User: "ops"})
		names = append(names, name)
	}
	return targets, names
}

func TestFanOutRuns200NodesInInputOrderWithBoundedConcurrency(t *testing.T) {
	e := newEnv(t)
	var running, peak atomic.Int32
	targets, names := fleet(t, e, 200, func(c *sshserver.Config) {
		c.OnExec = func(string, string, time.Time) {
			now := running.Add(1)
			for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
			}
		}
		c.OnExit = func(string, string, int, time.Duration) { running.Add(-1) }
	})
	r := e.runner(t, targets, func(p *Params) { p.Concurrency = 16 })
	var mu sync.Mutex
	lines := map[string]string{}
	results := r.FanOut(context.Background(), names, func(node string) Cmd {
		return Cmd{Script: "sleep 0.05; echo " + Quote(node)}
	}, func(l Line) {
		mu.Lock()
		defer mu.Unlock()
		lines[l.Node] += l.Text
	})
	if len(results) != len(names) {
		t.Fatalf("%d results for %d nodes", len(results), len(names))
	}
	for i, res := range results {
		if res.Node != names[i] || !res.OK() || res.Stdout != names[i]+"\n" || lines[names[i]] != names[i] {
			t.Fatalf("result %d: %+v, lines %q", i, res, lines[names[i]])
		}
	}
	if p := peak.Load(); p > 16 || p < 2 {
		t.Errorf("peak concurrency %d, want 2..16", p)
	}
}

func TestOneDeadNodeDoesNotHoldUpTheOthers(t *testing.T) {
	e := newEnv(t)
	targets, names := fleet(t, e, 3, nil)
	silent := nodetest.StartNode(t, "silent", e.client.Signer.PublicKey(), nil)
	silent.Server.Pause() // accepts TCP, never speaks: the handshake hangs
	host, port := nodetest.HostPort(t, silent.Addr())
	closed := closedPort(t)
	targets = append(targets,
		Target{Name: "silent", Host: host, Port: port, User: "ops"},
		Target{Name: "refused", Host: "127.0.0.1", Port: closed, User: "ops"})
	names = append(names, "silent", "refused")
	r := e.runner(t, targets, func(p *Params) { p.ConnectTimeout = time.Second; p.Concurrency = 2 })
	start := time.Now()
	results := r.FanOut(context.Background(), names, func(string) Cmd { return Cmd{Args: []string{"true"}} }, nil)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("fan-out took %v with a 1s connect timeout", took)
	}
	for _, res := range results[:3] {
		if !res.OK() {
			t.Errorf("%s: %v", res.Node, res.Err)
		}
	}
	for _, res := range results[3:] {
		if res.OK() || res.ExitCode != -1 {
			t.Errorf("%s: want a connect error, got %+v", res.Node, res)
		}
	}
	if want := "no SSH answer within 1s"; results[3].Err == nil || !strings.Contains(results[3].Err.Error(), want) {
		t.Errorf("silent node: %v, want %q", results[3].Err, want)
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

func TestCancellingAFanOutStopsEveryNode(t *testing.T) {
	e := newEnv(t)
	targets, names := fleet(t, e, 6, nil)
	r := e.runner(t, targets, func(p *Params) { p.Concurrency = 3 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var pids []int
	start := time.Now()
	// Cancel once the first three (the concurrency) are running, not after
	// a fixed time: on a loaded machine a session can take seconds to start.
	results := r.FanOut(ctx, names, func(string) Cmd { return Cmd{Script: "sleep 300 & echo $!; wait"} }, func(l Line) {
		if pid, err := strconv.Atoi(l.Text); err == nil {
			mu.Lock()
			pids = append(pids, pid)
			if len(pids) == 3 {
				cancel()
			}
			mu.Unlock()
		}
	})
	// Bounded by the stop protocol itself (two rounds of up to 2*killGrace
	// each, a closing grace, two kill sessions), not by a guess at speed.
	if took := time.Since(start); took > 8*killGrace+time.Minute {
		t.Errorf("cancel took %v", took)
	}
	for _, res := range results {
		if !errors.Is(res.Err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", res.Node, res.Err)
		}
	}
	if len(pids) != 3 {
		t.Errorf("%d commands started, want 3 (concurrency)", len(pids))
	}
	// Only the node's backstop (the 5-minute command timeout) would end a
	// sleeper other than etcd-dr's kill, so a minute proves the kill.
	for _, pid := range pids {
		nodetest.WaitGone(t, pid, time.Minute)
	}
}

func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(strconv.Itoa(n)+"-nodes", func(b *testing.B) {
			e := &testEnv{dir: b.TempDir(), client: nodetest.NewKey(b)}
			e.keyFile = e.client.WriteFile(b, e.dir, "id_ed25519", 0o600, "")
			e.known = e.dir + "/known_hosts"
			targets, names := fleet(b, e, n, nil)
			r := e.runner(b, targets, nil)
			build := func(string) Cmd { return Cmd{Args: []string{"true"}} }
			r.FanOut(context.Background(), names, build, nil) // dial outside the timer
			b.ResetTimer()
			for b.Loop() {
				for _, res := range r.FanOut(context.Background(), names, build, nil) {
					if !res.OK() {
						b.Fatal(res.Err)
					}
				}
			}
		})
	}
}
