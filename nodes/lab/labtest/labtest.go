// Package labtest lets tests that start a drill lab run in parallel without
// colliding. A lab owns the loopback block 127.B.x.y of its --block B (etcd
// on :2379/:2380, apiservers on :6443 of each node's own address), so two
// labs on one block fight over the same addresses: one test of each block at
// a time, in this process and in any other on the machine (a second suite, a
// helper's `go test -run`). And a lab is a handful of real processes (etcd
// members, kube-apiservers, a kubelet per node): too many at once on a small
// machine turn waits into timeouts, so at most Slots() labs run together.
//
// Use it as the first line of a lab test (or subtest):
//
//	func TestX(t *testing.T) {
//		labtest.Block(t, 190)
//		...
//	}
package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// SlotsEnv overrides how many labs one test binary runs at once.
const SlotsEnv = "ETCD_DR_TEST_LABS"

// registry is the process's record of claimed blocks and its lab slots:
// a test binary is one process, so this is the one place that can see two
// tests of it claiming the same block.
var registry = struct {
	sync.Mutex
	owner map[int]string
	slots chan struct{}
}{owner: map[int]string{}}

// Slots is how many labs run at once: GOMAXPROCS + 1 unless SlotsEnv says
// otherwise. A lab test spends most of its time waiting (kube-apiserver's
// 30 s termination grace, etcd elections, polls), so one more lab than
// cores keeps the cores busy; more than that starved apiservers past their
// readiness deadlines on 2 cores under load.
func Slots() int {
	if v, err := strconv.Atoi(os.Getenv(SlotsEnv)); err == nil && v > 0 {
		return v
	}
	return runtime.GOMAXPROCS(0) + 1
}

// Block claims lab block b for t and marks t parallel. It fails t when
// another test of this binary claimed b (give each test its own block; the
// README's Tests section lists who owns which), waits while any other
// process on the machine holds b, and waits for a lab slot. Everything is
// released when t ends. Call it before t starts its lab and before any
// t.Setenv (which a parallel test may not use: pass values instead).
func Block(t testing.TB, b int) {
	t.Helper()
	if b < 0 || b > 255 {
		t.Fatalf("labtest: block %d is not an address byte", b)
		return
	}
	registry.Lock()
	// The same test again (-count=2) is not a collision.
	if prev, ok := registry.owner[b]; ok && prev != t.Name() {
		registry.Unlock()
		t.Fatalf("labtest: lab block %d is already used by %s: two labs on one block share 127.%d.x.y; "+
			"give %s a block of its own", b, prev, b, t.Name())
		return
	}
	registry.owner[b] = t.Name()
	if registry.slots == nil {
		registry.slots = make(chan struct{}, Slots())
	}
	slots := registry.slots
	registry.Unlock()

	if p, ok := t.(interface{ Parallel() }); ok {
		p.Parallel()
	}
	// Across processes: an flock per block, held for the test's life; the
	// kernel drops it if the process dies, so a killed run leaves no stale
	// claim behind.
	f, err := os.OpenFile(lockPath(b), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("labtest: block %d: %v", b, err)
		return
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("labtest: block %d is in use by another process (%s); waiting for it", b, f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("labtest: lock block %d: %v", b, err)
			return
		}
	}
	slots <- struct{}{}
	t.Cleanup(func() {
		<-slots
		f.Close() // releases the flock
	})
}

// lockPath is shared by every process of this user on the machine (the
// machine's loopback addresses are shared the same way).
func lockPath(b int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("etcd-dr-lab-block-%d.lock", b))
}
