package steps

import (
	"context"
	"fmt"
	"strconv"
	"sync"
)

// The revision bump must carry the restored cluster past every revision a
// client can have seen. Preflight's reading comes before the step-1 gate,
// and the apiservers write until step 1 ends: a 100-node cluster's node
// leases alone use up the margin within a minute of that reading. Once the
// last apiserver is proven gone no client can see a newer revision, so the
// reading that decides the bump is taken then: before step 2's gate (so the
// operator confirms the bump that will be used) and before any member is
// stopped. Preflight's reading stays as the estimate shown at step 1's gate.

// decideBumpAtStop is step 2's BeforeGate: it reads every member's revision
// and decides the bump from the highest. A restore that has begun (step 2's
// Run records RestoredAt before it stops any member) already used the bump:
// it is never decided again, or members restored before and after a resume
// would carry different revisions.
func decideBumpAtStop(ctx context.Context, c *Context) error {
	if !c.Values.RestoredAt.IsZero() {
		return nil
	}
	rev := c.highestRevision(ctx)
	c.Check("", "live etcd revision after the apiservers stopped", rev > 0, revisionDetail(rev))
	live := rev
	if rev > 0 {
		// A member lagging behind the one preflight read must not lower the
		// bump. With none answering, preflight's reading is not trusted (the
		// apiservers wrote after it): 0 makes the bump fall back to 1e9.
		live = max(rev, c.Values.LiveRevision)
	}
	bump, err := ComputeBump(c.Cluster.Etcd.BumpRevision, live, c.Values.SnapshotRevision)
	if err != nil {
		return err
	}
	c.Values.RevisionAtStop, c.Values.BumpAtStop, c.Values.Bump = rev, true, bump
	return c.SaveValues()
}

func revisionDetail(rev int64) string {
	if rev == 0 {
		return "no member answered"
	}
	return strconv.FormatInt(rev, 10)
}

// highestRevision asks every member at once for its revision and returns
// the highest; 0 when none answers. All at once: in a real disaster several
// may be down, and asking them in turn would cost a status timeout each.
func (c *Context) highestRevision(ctx context.Context) int64 {
	var mu sync.Mutex
	var highest int64
	ms := c.members()
	_ = c.parallel(ctx, 0, memberNodes(ms), func(ctx context.Context, node string) error {
		st, err := c.memberStatus(ctx, memberOn(ms, node))
		if err != nil {
			return nil // unreachable: the others answer, or the bump falls back to 1e9
		}
		mu.Lock()
		highest = max(highest, st.Status.Header.Revision)
		mu.Unlock()
		return nil
	})
	return highest
}

// bumpFact says where the revision bump comes from, in the operator's words.
func (c *Context) bumpFact() string {
	v := c.Values
	switch {
	case v.Bump == 0:
		return "revision bump decided before this gate, once every apiserver is stopped: highest live revision - snapshot revision + margin, or 1e9 if no member answers"
	case c.bumpConfigured():
		return fmt.Sprintf("revisions bumped by %s, as etcd.bumpRevision sets%s", c.bumpArg(), c.bumpShortfall())
	case !v.BumpAtStop && v.LiveRevision == 0:
		return fmt.Sprintf("live revision unknown (etcd unreachable in preflight): revisions bumped by %s, the safe fallback", c.bumpArg())
	case !v.BumpAtStop:
		return fmt.Sprintf("live revision %d (read in preflight), snapshot revision %d: revisions bumped by %s so watchers never see them go backwards",
			v.LiveRevision, v.SnapshotRevision, c.bumpArg())
	case v.RevisionAtStop == 0:
		return fmt.Sprintf("no etcd member answered once the apiservers were stopped: revisions bumped by %s, the safe fallback", c.bumpArg())
	}
	return fmt.Sprintf("live revision %d, read after the last apiserver stopped (preflight read %d), snapshot revision %d: "+
		"revisions bumped by %s so watchers never see them go backwards", v.RevisionAtStop, v.LiveRevision, v.SnapshotRevision, c.bumpArg())
}

// stopWithEstimate is step 1 of the restore: it shows preflight's reading
// at the gate, as the estimate it is (rollback's step 1 decides no bump).
func stopWithEstimate() Step {
	s := StopApiserversStep()
	facts := s.Facts
	s.Facts = func(c *Context) []string {
		var out []string
		if facts != nil {
			out = facts(c)
		}
		return append(out, c.bumpEstimateFact())
	}
	return withSourcePick(s) // source_member.go: snapshot.from's pick, at the last gate before anything changes
}

func (c *Context) bumpEstimateFact() string {
	est := "live etcd revision unknown in preflight"
	switch {
	case c.Values.Bump == 0:
		est = "live etcd revision read in preflight as an estimate"
	case c.Values.LiveRevision > 0:
		est = fmt.Sprintf("live etcd revision %d read in preflight", c.Values.LiveRevision)
	}
	return est + "; the apiservers write until this step ends, so the revision bump is decided again " +
		"once they are all stopped, and shown at the restore's gate"
}

func (c *Context) bumpConfigured() bool {
	s := c.Cluster.Etcd.BumpRevision
	return s != "" && s != "auto"
}

// bumpShortfall warns when a configured bump does not reach the revision
// read after the apiservers stopped: watchers would see time go backwards.
func (c *Context) bumpShortfall() string {
	seen := max(c.Values.RevisionAtStop, c.Values.LiveRevision)
	if seen == 0 || c.Values.SnapshotRevision+c.Values.Bump > seen {
		return ""
	}
	return fmt.Sprintf("; WARNING: snapshot revision %d + %d does not pass the live revision %d: watchers would see revisions go backwards, raise etcd.bumpRevision or set it to auto",
		c.Values.SnapshotRevision, c.Values.Bump, seen)
}
