package steps

import (
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
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
	return c.commandFloor() + time.Duration(passes*c.Values.SnapshotSize/slowRate)*time.Second
}

// timeoutOf is the time cmd is given: its own, or the configured default.
func (c *Context) timeoutOf(cmd nodes.Cmd) time.Duration {
	if cmd.Timeout > 0 {
		return cmd.Timeout
	}
	return c.commandFloor()
}

// commandFloor is the configured command timeout (config fills it; a
// Cluster built in code may not).
func (c *Context) commandFloor() time.Duration {
	if c.Cluster.SSH.CommandTimeout > 0 {
		return c.Cluster.SSH.CommandTimeout
	}
	return config.DefaultCommandTimeout
}

// A snapshot copy fails when no byte has moved for copyStall, not after a
// total time: a slow link that keeps moving finishes, a dead one is cut
// off in minutes whatever the snapshot's size. Two minutes is far beyond
// SSH's own window stalls and a busy disk's fsync pauses (seconds), and
// short enough that the operator learns of a dead link while still there.
const copyStall = 2 * time.Minute

// crawlRate is the rate below which a copy is cut off even while it
// moves: 256 KiB/s takes 11 hours for 10 GiB, where another path (a copy
// by hand, snapshot.on: <node>) is the operator's better choice. It only
// backs copyStall up (the transport needs some timeout).
const crawlRate = 256 << 10

// copyBackstop is a copy's total timeout: the floor plus the snapshot at
// crawlRate. copyStall ends a dead copy long before.
func (c *Context) copyBackstop() time.Duration {
	return c.commandFloor() + time.Duration(c.Values.SnapshotSize/crawlRate)*time.Second
}

// restoreSafety divides the rate measured copying to a member before it
// sizes that member's restore. The copy measures the link and the writes
// into the node's page cache; the restore reads and writes the same disk
// with fsyncs (etcdutl's db, then its revision bump), which can be several
// times slower than cached writes on a busy or thin-provisioned disk. Four
// keeps a restore that runs at a quarter of the copy's speed inside its
// timeout.
const restoreSafety = 4

// measured records the rate of node's snapshot copy (bytes per second).
func (c *Context) measured(node string, rate float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.throughput == nil {
		c.throughput = map[string]float64{}
	}
	c.throughput[node] = rate
}

// restoreTimeout sizes node's restore from the rate its copy measured:
// floor + restorePasses × size ÷ rate, where rate is the measured one
// divided by restoreSafety, and never faster than slowRate, so the timeout
// is never shorter than the assumption alone gives (that is the floor: a
// fast copy into the page cache says little about fsyncs). A node whose
// copy measured slower than slowRate × restoreSafety gets the longer
// timeout its own link and disk need; a node not measured (snapshot.on
// that node, a resume after the copy) gets the assumption.
func (c *Context) restoreTimeout(node string) time.Duration {
	c.mu.Lock()
	rate := c.throughput[node]
	c.mu.Unlock()
	eff := float64(slowRate)
	if rate > 0 {
		eff = min(eff, rate/restoreSafety)
	}
	// A copy slower than crawlRate was cut off by its backstop: no lower
	// rate is ever measured, and none may make the timeout overflow.
	eff = max(eff, crawlRate/restoreSafety)
	// Whole seconds, as sizedTimeout: the operator reads "did not finish
	// within 20s", not a nanosecond count.
	sized := time.Duration(float64(restorePasses*c.Values.SnapshotSize) / eff * float64(time.Second))
	return c.commandFloor() + sized.Truncate(time.Second)
}
