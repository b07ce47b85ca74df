package steps

import (
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

// slowRate is the slowest rate, in bytes per second, at which a node is
// assumed to move snapshot bytes: a busy disk or a long SSH link. It is an
// assumption, kept well below what real nodes do (a local disk reads
// 100+ MiB/s), so that a slow node is not cut off mid-copy.
const slowRate = 10 << 20

// Passes over the snapshot's bytes that each command makes.
const (
	copyPasses = 1 // stream to the member (or read to the bastion)
	// restorePasses: restoreScript's sha256 re-check reads the file once;
	// etcdutl reads it, writes the db, then rewrites it for the revision
	// bump and hashes it: count four passes in all, rounding up.
	restorePasses = 4
)

// sizedTimeout is how long a command that makes passes over the snapshot
// may run: the configured command timeout (the floor, for everything that
// is not the bytes: sessions, sudo, fsync) plus passes × snapshot size ÷
// slowRate. A 10 GiB snapshot gets 5m + 17m for a copy and 5m + 68m for
// the restore; a 100 MiB one 5m10s and 5m40s.
func (c *Context) sizedTimeout(passes int64) time.Duration {
	floor := c.Cluster.SSH.CommandTimeout
	if floor <= 0 {
		floor = config.DefaultCommandTimeout // config fills it; a Cluster built in code may not
	}
	return floor + time.Duration(passes*c.Values.SnapshotSize/slowRate)*time.Second
}
