package main

import (
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// Real-tier slots of 198.51.100.0/24 used by this package's tests, one
// test each: 10 TestDrillHeadlessOnRealKubelet, 11 TestRealTierFaults…,
// 12 the side-by-side test (shared, under the lock, with nodes/lab/
// realnode's TestRealKubeletRunsControlPlane), 13 TestRealTierStrayManifest….

// realSlotLock holds real-tier slot s for t's life, machine-wide
// (realnode.LockSlot): a second suite, or realnode's own tests, on the same
// slot waits instead of removing this one's bridge and namespaces.
func realSlotLock(t *testing.T, s int) {
	t.Helper()
	release, err := realnode.LockSlot(s, func(p string) { t.Logf("real-tier slot %d is in use by another process (%s); waiting", s, p) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
}
