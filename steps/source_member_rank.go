package steps

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// rankSourceMembers orders members most advanced first: the highest
// consistent index (the last raft entry applied to the db), then the
// highest revision; unreadable members last, in file order.
func rankSourceMembers(ms []SourceMember) []SourceMember {
	out := slices.Clone(ms)
	slices.SortStableFunc(out, func(a, b SourceMember) int {
		if a.ranked() != b.ranked() {
			if a.ranked() {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.ConsistentIndex, a.ConsistentIndex), cmp.Compare(b.Revision, a.Revision))
	})
	return out
}

// compareSources says, for each ranked member, what restoring its db
// loses against every other ranked member: the keys the other holds that
// it does not, or holds older (the diff a restore over that member's data
// would be).
func compareSources(src *Source) error {
	keys := map[string]snapshot.Keyspace{}
	for _, m := range src.Ranking {
		if !m.ranked() {
			continue
		}
		ks, err := snapshot.SnapshotKeys(m.Local)
		if err != nil {
			return fmt.Errorf("keys of %s's db: %w", m.Node, err)
		}
		keys[m.Node] = ks
	}
	for i, m := range src.Ranking {
		if !m.ranked() {
			continue
		}
		for _, o := range src.Ranking {
			if o.Node == m.Node || !o.ranked() {
				continue
			}
			src.Ranking[i].Loses = append(src.Ranking[i].Loses, "against "+o.Node+": "+lossSentence(snapshot.Compare(keys[m.Node], keys[o.Node])))
		}
	}
	return nil
}

// compareGiven verifies the snapshot file given beside snapshot.from and
// says what restoring it would lose against the most advanced member.
func (c *Context) compareGiven(src *Source) *SourceMember {
	g := &SourceMember{Node: config.SnapshotOnBastion, Name: c.Cluster.Snapshot.Path}
	info, err := snapshot.Verify(c.Cluster.Snapshot.Path)
	if err != nil {
		g.Err = err.Error()
		return g
	}
	g.Revision, g.Keys, g.Size = info.Revision, info.TotalKeys, info.Size
	best := src.Ranking[0]
	if !best.ranked() {
		return g
	}
	gk, err := snapshot.SnapshotKeys(c.Cluster.Snapshot.Path)
	bk, err2 := snapshot.SnapshotKeys(best.Local)
	if err != nil || err2 != nil {
		g.Err = fmt.Sprintf("keys: %v %v", err, err2)
		return g
	}
	g.Loses = []string{"against " + best.Node + ": " + lossSentence(snapshot.Compare(gk, bk))}
	return g
}

// lossSentence is a Diff in a source ranking's words: what the picked
// data lacks that the other holds.
func lossSentence(d snapshot.Diff) string {
	n := func(gs []snapshot.Group) int { return len(snapshot.Keys(gs)) }
	lost := n(d.Dropped) + n(d.BroughtBack) + n(d.RolledBack)
	if lost == 0 {
		return "loses nothing it holds"
	}
	return fmt.Sprintf("loses %d keys (%d it never got, %d older, %d deleted there and revived), revision %d against %d",
		lost, n(d.Dropped), n(d.RolledBack), n(d.BroughtBack), d.SnapshotRevision, d.LiveRevision)
}

// sourceLine is one member of the ranking, for checks and gates; raft
// adds its live raft indexes (read at step 1's gate).
func sourceLine(m SourceMember, raft bool) string {
	if !m.ranked() {
		return m.Node + ": not ranked: " + m.Err
	}
	s := fmt.Sprintf("%s (%s): revision %d, consistent index %d, %d keys, %d bytes", m.Node, m.Name, m.Revision, m.ConsistentIndex, m.Keys, m.Size)
	switch {
	case !raft:
	case m.RaftIndex > 0:
		s += fmt.Sprintf("; live raft index %d, applied %d", m.RaftIndex, m.Applied)
	default:
		s += "; its etcd did not answer (raft index unknown)"
	}
	return s
}
