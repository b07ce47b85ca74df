package steps

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// takeScript copies a stopped member's db ($1) to this run's snapshot
// name beside the data dirs ($2), never over an existing file (an earlier
// attempt's finished copy is kept and checked again), then prints its size
// and sha256. The data dir is only read.
const takeScript = `set -e; umask 077; src="$1"; dst="$2"
if [ ! -e "$dst" ]; then cp -- "$src" "$dst.part"; sync; mv -- "$dst.part" "$dst"; fi
stat -c %s -- "$dst"; sha256sum -- "$dst"`

// sourceNode is the member whose db is restored, or a placeholder.
func (c *Context) sourceNode() string {
	if c.Values.Source == nil || c.Values.Source.Chosen == "" {
		return PhSourceMember
	}
	return c.Values.Source.Chosen
}

// sourceTakeActions are step 2's first actions with snapshot.from: etcd
// stopped on every member (the chosen db is then a consistent file), the
// db copied beside its data dir and read to the bastion to verify it.
func (c *Context) sourceTakeActions() []Action {
	if !c.fromMember() {
		return nil
	}
	var out []Action
	for _, m := range c.members() {
		a := c.stopEtcd(m.Node)
		a.What = "stop etcd on every member first: the source's db must not change while it is copied, and no member may serve while the others are restored"
		out = append(out, a)
	}
	node := c.sourceNode()
	m := memberOn(c.members(), node)
	if c.Values.Source == nil {
		m.DataDir = "<data dir of the source member>"
	}
	dst := c.val(c.Values.SnapshotMemberCopy, PhSnapshotMemberCopy)
	take := shCmd(c.Cluster, takeScript, memberDBPath(m), dst)
	take.Timeout = c.sizedTimeout(copyPasses)
	read := sudo(c.Cluster, "base64", "-w", "49152", "--", dst)
	read.Timeout = c.sizedTimeout(copyPasses)
	return append(out,
		Action{Node: node, What: "copy the stopped member's member/snap/db to this run's snapshot beside the data dirs (kept for rollback and diff; the data dir is only read)", Cmd: take},
		Action{Node: node, What: "read that copy to the bastion to verify it (bbolt page check, revision at least preflight's)", Cmd: read, ReadOnly: true})
}

// takeSource is step 2's part before any restore: stop every member, take
// the chosen member's db, verify it and distribute it as the snapshot. A
// resumed run that already took it only distributes again (idempotent).
func (c *Context) takeSource(ctx context.Context, ms []Member) error {
	if !c.fromMember() {
		return nil
	}
	src := c.Values.Source
	if src == nil || src.Chosen == "" {
		return fmt.Errorf("snapshot.from: preflight ranked no source member; start a new run")
	}
	if src.Taken == nil {
		for _, wave := range c.stopWaves(ctx, ms) {
			if err := c.ForEachNode(ctx, wave, func(ctx context.Context, node string) error {
				m := memberOn(ms, node)
				return c.stopEtcdAndWait(ctx, m, c.stopEtcd(node))
			}); err != nil {
				return err
			}
		}
		if err := c.takeSourceDB(ctx); err != nil {
			return &NodeError{Node: src.Chosen, Err: err}
		}
	}
	return c.ForEachNode(ctx, memberNodes(ms), func(ctx context.Context, node string) error {
		return c.prepareMember(ctx, node) // preflight.go: disk, copy, sha256 check, as for a snapshot file
	})
}

// takeSourceDB copies, reads and verifies the chosen member's db.
func (c *Context) takeSourceDB(ctx context.Context) error {
	src := c.Values.Source
	pre, _ := c.sourceMember(src.Chosen)
	acts := c.sourceTakeActions()
	take, read := acts[len(acts)-2], acts[len(acts)-1]
	res, err := c.Exec1(ctx, take)
	if err != nil {
		return err
	}
	out := strings.Fields(res.Stdout)
	if len(out) < 2 {
		return fmt.Errorf("size and sha256 of %s: cannot read %q", c.Values.SnapshotMemberCopy, clip(res.Stdout))
	}
	if size, err := strconv.ParseInt(out[0], 10, 64); err == nil {
		read.Cmd.Timeout = c.sizedTimeout(copyPasses) + sizeTime(size)
	}
	local := c.sourceCopyOnBastion(src.Chosen, "stopped")
	if err := c.streamTo(ctx, read, local); err != nil {
		return fmt.Errorf("read %s to the bastion: %w", c.Values.SnapshotMemberCopy, err)
	}
	info, err := snapshot.VerifyMemberDB(local)
	ok := err == nil && info.SHA256 == out[1] && info.Revision >= pre.Revision && info.ConsistentIndex >= pre.ConsistentIndex
	detail := fmt.Sprintf("revision %d (preflight read %d), consistent index %d (preflight %d), %d keys, no sha256 trailer expected: bbolt's page check passed",
		info.Revision, pre.Revision, info.ConsistentIndex, pre.ConsistentIndex, info.Keys)
	switch {
	case err != nil:
		detail = err.Error()
	case info.SHA256 != out[1]:
		detail = fmt.Sprintf("the copy read has sha256 %s, the file on %s %s: it changed while being read", info.SHA256, src.Chosen, out[1])
	case !ok:
		detail = fmt.Sprintf("revision %d, consistent index %d: behind the %d and %d preflight read; the member lost data since, or this is another data dir",
			info.Revision, info.ConsistentIndex, pre.Revision, pre.ConsistentIndex)
	}
	c.Check(src.Chosen, "source db taken from the stopped member verifies", ok, detail)
	if !ok {
		return fmt.Errorf("the db taken from %s is refused: %s; its data dir is untouched; start a new run (snapshot.from another member, or a snapshot file)", src.Chosen, detail)
	}
	if pre.RaftIndex > info.ConsistentIndex {
		c.Check(src.Chosen, "raft entries not in the db are lost", true,
			fmt.Sprintf("%d entries: raft index %d in preflight, the db holds up to %d", pre.RaftIndex-info.ConsistentIndex, pre.RaftIndex, info.ConsistentIndex))
	}
	src.Taken = &info
	c.Values.SnapshotSHA256, c.Values.SnapshotRevision, c.Values.SnapshotSize, c.Values.SnapshotBastionCopy = info.SHA256, info.Revision, info.Size, local
	return c.SaveValues()
}

// sourceRestoreFacts are what step 2's gate says about a member's db.
func (c *Context) sourceRestoreFacts() []string {
	if !c.fromMember() {
		return nil
	}
	node := c.sourceNode()
	pre, _ := c.sourceMember(node)
	rev := "<read in preflight>"
	if pre.Revision > 0 {
		rev = strconv.FormatInt(pre.Revision, 10)
	}
	out := []string{
		fmt.Sprintf("the snapshot is %s's member/snap/db (revision %s in preflight), copied once etcd is stopped on every member, to %s on %s beside the old data dirs: the run's snapshot for rollback and diff",
			node, rev, c.val(c.Values.SnapshotMemberCopy, PhSnapshotMemberCopy), node),
		"a member's db has no sha256 trailer (only etcdctl snapshot save appends one): bbolt's page check proves it whole instead, its revision must be at least preflight's, and every member restores it with --skip-hash-check",
	}
	wal := "raft entries in " + node + "'s WAL not yet applied to its db are lost with this method"
	switch {
	case c.Values.Source == nil:
		wal += ": counted in preflight where its etcd answers (raft index against the db's consistent index)"
	case pre.RaftIndex == 0:
		wal += ": how many is unknown (its etcd did not answer in preflight)"
	case pre.RaftIndex > pre.Applied:
		wal += fmt.Sprintf(": %d when last read (raft index %d, applied %d); the db taken after the stop is checked against raft index %d",
			pre.RaftIndex-pre.Applied, pre.RaftIndex, pre.Applied, pre.RaftIndex)
	default:
		wal += fmt.Sprintf(": none when last read (raft index %d, all applied); the db taken after the stop must hold up to it", pre.RaftIndex)
	}
	return append(out, wal)
}

// sourceNotTaken: snapshot.from, and step 2 has not taken the db yet, so
// no member holds a snapshot copy to check.
func (c *Context) sourceNotTaken() bool { return c.fromMember() && c.Values.SnapshotSHA256 == "" }

// preflightSnapshotActions are preflight's snapshot commands on node: the
// copy and check of a snapshot file, or the read of the member's db.
func (c *Context) preflightSnapshotActions(node string) []Action {
	if c.fromMember() {
		return c.sourceReadActions(memberOn(c.members(), node))
	}
	var out []Action
	if node != c.snapshotHolder() {
		out = append(out, c.partialCopyRemoval(node)) // prepareMember, before the disk check
	}
	return append(out, c.snapshotActions(node).list()...)
}
