package steps

import "sync"

// FAKE, for one test only. etcdutl (3.5.10 and later) refuses
// --bump-revision without --mark-compacted, so no real fault or cluster
// file makes etcd-dr restore a snapshot whose older revisions are still
// readable. The test that proves the convergence check "revision from
// before the restore compacted" can fail needs exactly that restore: the
// plain `etcdutl snapshot restore` of many hand-written procedures, no bump
// and no compaction. FakeRestoreWithoutCompaction(file) makes the run of
// that one cluster file restore so. Nothing outside tests calls it; the
// CLI has no way to set it.
var fakeNoCompaction sync.Map // cluster file path → true

// FakeRestoreWithoutCompaction is the FAKE knob above, for clusterFile.
func FakeRestoreWithoutCompaction(clusterFile string) { fakeNoCompaction.Store(clusterFile, true) }

func (c *Context) fakeRestoreWithoutCompaction() bool {
	_, ok := fakeNoCompaction.Load(c.Cluster.File)
	return ok
}
