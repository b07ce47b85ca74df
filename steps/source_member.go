package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/event"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// With snapshot.from the snapshot is not a file but a surviving member's
// data: when a majority of members is gone, the newest data there is lies
// in the survivors' member/snap/db, and an hours-old snapshot would throw
// it away. The etcd docs' way out (restore a member's db with
// --skip-hash-check on every member) runs inside the same five steps:
//
//   - preflight, read-only, copies every reachable member's db to the
//     bastion (etcd may still run, without quorum: the copy only judges),
//     reads revision, consistent index and keys, and ranks the members;
//   - step 1's gate shows the ranking, what each member would keep and lose
//     against the others, and lets the operator pick (default: the most
//     advanced); the pick is journaled in Values.Source;
//   - step 2, once every etcd is stopped, copies the chosen member's db
//     beside its old data dir (the run's snapshot, for rollback and diff),
//     verifies it (bbolt's page check, revision at least preflight's),
//     distributes it as a snapshot and restores with --skip-hash-check.

// Source is the snapshot's source member, journaled in Values.
type Source struct {
	// Ranking is preflight's reading, most advanced first; members whose
	// db could not be read follow, with Err.
	Ranking []SourceMember `json:"ranking"`
	// Given is the snapshot file given beside snapshot.from, compared only.
	Given *SourceMember `json:"given,omitempty"`
	// Chosen is the node whose db is restored: the default until the
	// operator picks at step 1's gate.
	Chosen string `json:"chosen"`
	Picked bool   `json:"picked,omitempty"` // Chosen was confirmed at a gate
	// Taken is the db step 2 copied from the stopped member and verified.
	Taken *snapshot.DBInfo `json:"taken,omitempty"`
}

// SourceMember is one member's db as preflight read it.
type SourceMember struct {
	Node            string `json:"node"`
	Name            string `json:"name,omitempty"`
	Revision        int64  `json:"revision,omitempty"`
	ConsistentIndex uint64 `json:"consistentIndex,omitempty"`
	Keys            int    `json:"keys,omitempty"`
	Size            int64  `json:"size,omitempty"`
	// RaftIndex and Applied are the live member's raft commit and applied
	// indexes (etcdctl endpoint status), 0 when it did not answer.
	RaftIndex uint64 `json:"raftIndex,omitempty"`
	Applied   uint64 `json:"applied,omitempty"`
	Local     string `json:"local,omitempty"` // the bastion copy judged
	// Loses says what restoring this member's db loses against each other
	// member (and the given file), one sentence each.
	Loses []string `json:"loses,omitempty"`
	Err   string   `json:"err,omitempty"` // why it is not ranked
}

func (m SourceMember) ranked() bool { return m.Err == "" }

// fromMember reports whether the snapshot comes from a member's data.
func (c *Context) fromMember() bool { return c.Cluster.Snapshot.From != "" }

// sourceMember is the ranked member node, if any.
func (c *Context) sourceMember(node string) (SourceMember, bool) {
	if c.Values.Source == nil {
		return SourceMember{}, false
	}
	for _, m := range c.Values.Source.Ranking {
		if m.Node == node && m.ranked() {
			return m, true
		}
	}
	return SourceMember{}, false
}

// memberDBPath is member/snap/db in m's data dir, as etcd lays it out.
func memberDBPath(m Member) string { return path.Join(m.DataDir, "member", "snap", "db") }

// sourceReadActions size a member's db, then stream it to the bastion (as
// fetchActions do for a snapshot on a node), under sudo as step 2 reads it.
func (c *Context) sourceReadActions(m Member) []Action {
	db := memberDBPath(m)
	return []Action{
		{Node: m.Node, What: "size " + m.Name + "'s db (member/snap/db), to rank the members", ReadOnly: true,
			Cmd: sudo(c.Cluster, "stat", "-c", "%s", "--", db)},
		{Node: m.Node, What: "read " + m.Name + "'s db to the bastion to judge it (etcd may still run without quorum: this copy is never restored)",
			ReadOnly: true, Cmd: sudo(c.Cluster, "base64", "-w", "49152", "--", db)},
	}
}

// sourceCopyOnBastion is where preflight keeps node's db copy.
func (c *Context) sourceCopyOnBastion(node, what string) string {
	dir := journal.Dir(c.Cluster.State.Dir, c.Cluster.Name)
	return filepath.Join(dir, "source-"+c.val(c.Values.Run, PhRun)+"-"+node+"-"+what+".db")
}

// rankSources is preflight's part: read, rank and record every member's db,
// and make the default the snapshot the rest of preflight checks.
func (c *Context) rankSources(ctx context.Context) error {
	if err := os.MkdirAll(journal.Dir(c.Cluster.State.Dir, c.Cluster.Name), 0o700); err != nil {
		return err
	}
	ms := c.members()
	read := make([]SourceMember, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read[i] = c.readSourceMember(ctx, m)
		}()
	}
	wg.Wait()
	src := &Source{Ranking: rankSourceMembers(read)}
	if err := compareSources(src); err != nil {
		return err
	}
	if c.Cluster.Snapshot.Path != "" {
		src.Given = c.compareGiven(src)
	}
	for _, m := range src.Ranking {
		c.Check(m.Node, "source member db read", m.ranked(), sourceLine(m, false))
	}
	best := src.Ranking[0]
	if !best.ranked() {
		return fmt.Errorf("snapshot.from %s: no member's db could be read (%s): there is no data to restore from; give a snapshot file (snapshot.path)",
			c.Cluster.Snapshot.From, best.Err)
	}
	src.Chosen = best.Node
	if from := c.Cluster.Snapshot.From; from != config.SnapshotFromBestMember {
		m, ok := c.sourceMemberIn(src, from)
		if !ok {
			return fmt.Errorf("snapshot.from %s: its db cannot be read (%s); fix that, or write snapshot.from: %s to rank the others", from, m.Err, config.SnapshotFromBestMember)
		}
		src.Chosen = from
	}
	c.Values.Source = src
	return c.useSource(src.Chosen)
}

func (c *Context) sourceMemberIn(src *Source, node string) (SourceMember, bool) {
	for _, m := range src.Ranking {
		if m.Node == node {
			return m, m.ranked()
		}
	}
	return SourceMember{Node: node, Err: "not an etcd member"}, false
}

// useSource makes node's preflight copy the snapshot the rest of preflight
// and the gates read (members, storage version, readiness, bump), until
// step 2 takes the real one.
func (c *Context) useSource(node string) error {
	m, _ := c.sourceMember(node)
	c.Values.Source.Chosen = node
	c.Values.SnapshotBastionCopy, c.Values.SnapshotRevision, c.Values.SnapshotSize = m.Local, m.Revision, m.Size
	c.Values.SnapshotMemberCopy = c.memberCopyPath()
	if err := c.checkSnapshotMembers(m.Local); err != nil {
		return err
	}
	return c.SaveValues()
}

// readSourceMember copies m's db to the bastion and reads it; a member that
// cannot be read is kept, unranked, with the reason.
func (c *Context) readSourceMember(ctx context.Context, m Member) SourceMember {
	out := SourceMember{Node: m.Node, Name: m.Name}
	acts := c.sourceReadActions(m)
	res, err := c.Exec1(ctx, acts[0])
	if err != nil {
		why := err.Error()
		if strings.TrimSpace(res.Stderr) != "" {
			why = lastStderrLine(res.Stderr)
		}
		out.Err = "its db cannot be read: " + why
		return out
	}
	size, err := strconv.ParseInt(strings.TrimSpace(res.Stdout), 10, 64)
	if err != nil {
		out.Err = fmt.Sprintf("size of its db: %q", clip(res.Stdout))
		return out
	}
	read := acts[1]
	read.Cmd.Timeout = c.sizedTimeout(copyPasses) + sizeTime(size)
	dst := c.sourceCopyOnBastion(m.Node, "preflight")
	if err := c.streamTo(ctx, read, dst); err != nil {
		out.Err = "read its db: " + err.Error()
		return out
	}
	info, err := snapshot.VerifyMemberDB(dst)
	if err != nil {
		out.Err = err.Error() + " (a running etcd may have written it while it was read)"
		return out
	}
	out.Revision, out.ConsistentIndex, out.Keys, out.Size, out.Local = info.Revision, info.ConsistentIndex, info.Keys, info.Size, dst
	return out
}

// readSourceRaft is step 1's BeforeGate with snapshot.from: every ranked
// member's raft indexes, read with the etcdctl preflight chose (decided
// after the ranking), so the gates can count the WAL entries a member's db
// does not hold yet.
func readSourceRaft(ctx context.Context, c *Context) error {
	src := c.Values.Source
	if !c.fromMember() || src == nil || src.Taken != nil {
		return nil
	}
	ms := c.members()
	var mu sync.Mutex
	_ = c.parallel(ctx, 0, memberNodes(ms), func(ctx context.Context, node string) error {
		ri, ai := c.raftIndexes(ctx, memberOn(ms, node))
		mu.Lock()
		defer mu.Unlock()
		for i := range src.Ranking {
			if src.Ranking[i].Node == node {
				src.Ranking[i].RaftIndex, src.Ranking[i].Applied = ri, ai
			}
		}
		return nil
	})
	return c.SaveValues()
}

// sizeTime is how long moving size bytes may take at slowRate.
func sizeTime(size int64) time.Duration { return time.Duration(size/slowRate) * time.Second }

// raftIndexes reads m's raft commit and applied indexes from its live etcd
// (a member without quorum still answers status); 0, 0 when it does not.
func (c *Context) raftIndexes(ctx context.Context, m Member) (uint64, uint64) {
	if len(m.ClientURLs) == 0 {
		return 0, 0
	}
	res, err := c.Exec1(ctx, statusAction(c, m, m.ClientURLs[0]))
	if err != nil {
		return 0, 0
	}
	var st []struct {
		Status struct {
			RaftIndex        uint64 `json:"raftIndex"`
			RaftAppliedIndex uint64 `json:"raftAppliedIndex"`
		} `json:"Status"`
	}
	if json.Unmarshal([]byte(res.Stdout), &st) != nil || len(st) != 1 {
		return 0, 0
	}
	return st[0].Status.RaftIndex, st[0].Status.RaftAppliedIndex
}

// sourceChoices are step 1's gate choices: the members the operator may
// restore from, the default first. snapshot.from naming a member offers
// that one only: the file decided.
func sourceChoices(c *Context) []Choice {
	src := c.Values.Source
	if !c.fromMember() || src == nil || src.Taken != nil {
		return nil
	}
	out := []Choice{SourceChoiceOf(src.Chosen)}
	if c.Cluster.Snapshot.From != config.SnapshotFromBestMember {
		return out
	}
	for _, m := range src.Ranking {
		if m.ranked() && m.Node != src.Chosen {
			out = append(out, SourceChoiceOf(m.Node))
		}
	}
	return out
}

// SourceChoiceOf is the gate's choice of node's member as the source.
func SourceChoiceOf(node string) Choice { return event.SourceChoice(node) }

// sourceChosen records the operator's pick (journaled with the values, so
// a resume restores the member picked, not the default again).
func sourceChosen(c *Context, ch Choice) error {
	src := c.Values.Source
	if !c.fromMember() || src == nil {
		return nil
	}
	node, ok := ch.SourceNode()
	if !ok {
		node = src.Chosen // a client that sent no choice took the default
	}
	if src.Taken != nil && node != src.Chosen {
		return fmt.Errorf("the db of %s was already taken in step 2; %s cannot be picked in this run", src.Chosen, node)
	}
	if _, ok := c.sourceMember(node); !ok {
		return fmt.Errorf("%s is not a ranked source member: pick one of the members whose db preflight read", node)
	}
	src.Picked = true
	c.Check(node, "snapshot source picked", true, "the restore takes "+node+"'s member/snap/db")
	return c.useSource(node)
}

// sourceFacts are the ranking as step 1's gate shows it.
func sourceFacts(c *Context) []string {
	if !c.fromMember() {
		return nil
	}
	src := c.Values.Source
	if src == nil {
		return []string{"snapshot source: " + PhSourceRanking}
	}
	out := []string{fmt.Sprintf("snapshot source: a member's data (snapshot.from: %s); the members ranked, most advanced first; the restore takes %s's db unless another is picked here",
		c.Cluster.Snapshot.From, src.Chosen)}
	for i, m := range src.Ranking {
		line := fmt.Sprintf("%d. %s", i+1, sourceLine(m, true))
		if len(m.Loses) > 0 {
			line += "; picking it " + strings.Join(m.Loses, "; ")
		}
		out = append(out, line)
	}
	if g := src.Given; g != nil {
		line := "the snapshot file " + g.Name
		switch {
		case g.Err != "":
			line += " cannot be compared: " + g.Err
		default:
			line += fmt.Sprintf(" (revision %d, %d keys): restoring it instead %s", g.Revision, g.Keys, strings.Join(g.Loses, "; "))
		}
		out = append(out, line)
	}
	return out
}

// withSourcePick lets step 1's gate pick the source member.
func withSourcePick(s Step) Step {
	facts := s.Facts
	s.Facts = func(c *Context) []string {
		var out []string
		if facts != nil {
			out = facts(c)
		}
		return append(out, sourceFacts(c)...)
	}
	s.Choices, s.Chosen = sourceChoices, sourceChosen
	before := s.BeforeGate
	s.BeforeGate = func(ctx context.Context, c *Context) error {
		if before != nil {
			if err := before(ctx, c); err != nil {
				return err
			}
		}
		return readSourceRaft(ctx, c)
	}
	return s
}

// Placeholders of a plan before preflight.
const (
	PhSourceRanking = "<SOURCE_RANKING: every reachable member's member/snap/db read in preflight; revision, consistent index and keys of each, most advanced first>"
	PhSourceMember  = "<SOURCE_MEMBER: most advanced member, picked at step 1's gate>"
)
