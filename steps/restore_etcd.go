package steps

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/etcd-dr/etcd-dr/nodes"
)

const etcdManifest = "etcd.yaml"

// RestoreEtcdStep restores the snapshot into a NEW data dir on every member
// and points etcd at it. Old data dirs stay, for rollback.
func RestoreEtcdStep() Step {
	return Step{
		ID:    RestoreEtcd,
		Title: "Restore etcd from the snapshot on every member",
		Why: "Every member must start from the same verified snapshot, in a new data dir, as a new cluster " +
			"(new token) with revisions bumped past the live ones so watchers never see time go backwards.",
		Destructive: true,
		Plan: func(c *Context) ([]Action, error) {
			out := c.sourceTakeActions() // source_member_take.go: snapshot.from only
			for _, m := range c.members() {
				out = append(out, c.recheckAction(m.Node))
			}
			for _, m := range c.members() {
				out = append(out, c.restoreActions(m, nil).list()...)
			}
			return out, nil
		},
		BeforeGate: decideBumpAtStop, // bump_at_stop.go
		Facts:      restoreFacts,
		Run: func(ctx context.Context, c *Context) error {
			if c.fakeRestoreWithoutCompaction() {
				c.Values.Bump = 0 // FAKE (fake_compaction.go): restore with no bump
			}
			if c.Values.RestoredAt.IsZero() {
				c.Values.RestoredAt = c.now()
				if err := c.SaveValues(); err != nil {
					return err
				}
			}
			ms := c.members()
			if err := c.takeSource(ctx, ms); err != nil { // source_member_take.go: snapshot.from only
				return err
			}
			if err := c.recheckSnapshots(ctx, ms); err != nil {
				return err
			}
			for _, wave := range c.stopWaves(ctx, ms) {
				err := c.ForEachNode(ctx, wave, func(ctx context.Context, node string) error {
					return c.restoreMember(ctx, memberOn(ms, node))
				})
				if err != nil {
					return err
				}
			}
			return c.startMembersInTurn(ctx, ms)
		},
		Verify: verifyRestored,
	}
}

func restoreFacts(c *Context) []string {
	facts := []string{
		fmt.Sprintf("snapshot revision %d, sha256 %s", c.Values.SnapshotRevision, c.val(c.Values.SnapshotSHA256, "<verified in preflight>")),
		c.bumpFact(),
		"new data dir " + c.val(c.Values.DataDir, PhDataDir) + " on every member; old data dirs are kept for rollback",
		"new cluster token " + c.val(c.Values.Token, PhToken),
		"initial cluster " + c.initialCluster(),
	}
	facts = append(facts, c.toolFacts()...)
	facts = append(facts, c.sourceRestoreFacts()...)
	facts = append(facts, c.Values.SnapshotMembers...)
	return append(facts, c.Values.SnapshotDiff...)
}

func (c *Context) initialCluster() string {
	if len(c.Values.Members) == 0 {
		return "<name=peerURL of every member: read in preflight>"
	}
	return InitialCluster(c.Values.Members)
}

func (c *Context) restoreCmd(m Member) nodes.Cmd {
	snap := c.snapshotOnMember(m.Node)
	newDir := c.val(c.Values.DataDir, PhDataDir)
	args := []string{m.etcdutl(), "snapshot", "restore", snap, "--data-dir", newDir, "--name", m.Name,
		"--initial-cluster", c.initialCluster(), "--initial-cluster-token", c.val(c.Values.Token, PhToken),
		"--initial-advertise-peer-urls", strings.Join(m.PeerURLs, ",")}
	// Always both: etcdutl refuses a bump without --mark-compacted, and
	// without the compaction watchers resume across the jump (config
	// refuses markCompacted: false at load).
	if !c.fakeRestoreWithoutCompaction() { // FAKE (fake_compaction.go): neither bump nor compaction
		args = append(args, "--bump-revision", c.bumpArg(), "--mark-compacted")
	}
	if c.fromMember() {
		args = append(args, "--skip-hash-check") // a member's db has no trailer (source_member.go)
	}
	cmd := shCmd(c.Cluster, restoreScript, append(c.restoreScriptArgs(newDir, snap), args...)...)
	cmd.Timeout = c.restoreTimeout(m.Node)
	return cmd
}

// restoreActs are one member's restore actions, named so that the plan
// (list, in order) and restoreMember run the same ones.
type restoreActs struct {
	stop, restore, own, point, start Action
}

func (a restoreActs) list() []Action {
	return []Action{a.stop, a.restore, a.own, a.point, a.start}
}

// restoreActions are m's actions; edited is the new config file content
// (nil in plans: shown as the edit it will be).
func (c *Context) restoreActions(m Member, edited []byte) restoreActs {
	newDir := c.val(c.Values.DataDir, PhDataDir)
	w := writeAction(c, m.Node, c.etcdConfigFile(), edited)
	w.What = fmt.Sprintf("point %s at %s (data dir %s stays as it is)", path.Base(c.etcdConfigFile()), newDir, m.DataDir)
	w.Changes = c.dataDirChange(m, m.DataDir, newDir, c.Values.DataDir != "")
	return restoreActs{
		stop:    c.stopEtcd(m.Node),
		restore: Action{Node: m.Node, What: "restore " + m.Name + " into the new " + newDir + " (never an existing dir)", Cmd: c.restoreCmd(m), Long: true},
		own:     c.ownAction(m),
		point:   w,
		start:   c.startEtcd(m.Node),
	}
}

// restoreMember runs m's actions up to the start (startMembersInTurn
// starts the members once every one is restored), waiting for etcd to stop
// before the restore and editing the config file read back from the node.
func (c *Context) restoreMember(ctx context.Context, m Member) error {
	acts := c.restoreActions(m, nil)
	if err := c.stopEtcdAndWait(ctx, m, acts.stop); err != nil {
		return err
	}
	if res, err := c.Exec1(ctx, acts.restore); err != nil {
		if refusal := c.restoreRefusal(m, res); refusal != nil {
			return refusal
		}
		return restoreFailure(m, c.Values.DataDir, res, err)
	}
	if _, err := c.Exec1(ctx, acts.own); err != nil {
		return err
	}
	res, err := c.Exec1(ctx, catAction(c, m.Node, c.etcdConfigFile()))
	if err != nil {
		return err
	}
	edited, err := c.pointDataDir([]byte(res.Stdout), c.Values.DataDir)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", m.Node, c.etcdConfigFile(), err)
	}
	_, err = c.Exec1(ctx, c.restoreActions(m, edited).point)
	return err
}

// verifyRestored: every member healthy, one cluster ID, one leader, and a
// revision at least snapshot + bump.
func verifyRestored(ctx context.Context, c *Context) error {
	return verifyOneCluster(ctx, c, c.Values.SnapshotRevision+c.Values.Bump)
}

// verifyOneCluster waits until every member answers, then until they agree
// on one cluster and one leader. Members are read at slightly different
// moments, and a fresh cluster may hold an election or two in its first
// seconds (raft term 4 on one member, 5 on another): one reading that
// disagrees is not yet a split, many over the deadline are.
func verifyOneCluster(ctx context.Context, c *Context, want int64) error {
	got, err := statusOfAll(ctx, c)
	if err != nil {
		return withSplitHint(err, c.members(), got)
	}
	if checkOneCluster(c, got, want) == nil {
		return nil // the readings just taken agree: no need to ask again
	}
	return c.WaitFor(ctx, "members agree on one cluster and one leader", func(ctx context.Context) error {
		got, err := statusOnce(ctx, c)
		if err != nil {
			return err
		}
		return checkOneCluster(c, got, want)
	})
}

// withSplitHint adds, when some members answered and others never did,
// what that most often means: the silent ones are not in the answering
// members' cluster (restored with another token or from another data dir),
// so they wait for a quorum that never comes.
func withSplitHint(err error, ms []Member, got map[string]endpointStatus) error {
	if len(got) == 0 || len(got) == len(ms) {
		return err
	}
	var answered, silent []string
	ids := map[uint64]bool{}
	for _, m := range ms {
		if st, ok := got[m.Node]; ok {
			answered = append(answered, m.Node)
			ids[st.Status.Header.ClusterID] = true
		} else {
			silent = append(silent, m.Node)
		}
	}
	return fmt.Errorf("%w; %s answered (%d cluster ID(s)) but %s never did: a member restored with another "+
		"--initial-cluster-token or --initial-cluster waits for a quorum of its own that never comes; "+
		"read its etcd log, then retry (the restore is idempotent) or roll back",
		err, strings.Join(answered, ", "), len(ids), strings.Join(silent, ", "))
}

// statusOnce reads every member's status once, all at the same time.
func statusOnce(ctx context.Context, c *Context) (map[string]endpointStatus, error) {
	ms := c.members()
	var mu sync.Mutex
	got := map[string]endpointStatus{}
	err := c.parallel(ctx, 0, memberNodes(ms), func(ctx context.Context, node string) error {
		st, err := c.memberStatus(ctx, memberOn(ms, node))
		if err != nil {
			return &NodeError{Node: node, Err: err}
		}
		mu.Lock()
		got[node] = st
		mu.Unlock()
		return nil
	})
	return got, err
}

// statusOfAll waits until every member answers and returns each status.
func statusOfAll(ctx context.Context, c *Context) (map[string]endpointStatus, error) {
	ms := c.members()
	var mu sync.Mutex
	got := map[string]endpointStatus{}
	err := c.ForEachNode(ctx, memberNodes(ms), func(ctx context.Context, node string) error {
		m := memberOn(ms, node)
		err := c.WaitFor(ctx, "etcd healthy on "+node, func(ctx context.Context) error {
			st, err := c.memberStatus(ctx, m)
			detail := ""
			if err == nil && st.Status.Leader == 0 {
				// Between elections (members just started, a leader that
				// stepped down) a member answers with no leader: that is
				// not yet a verdict on the cluster, look again.
				detail = "no leader yet"
				err = fmt.Errorf("etcd member %s answers but knows no leader yet", m.Name)
			}
			// The console reads "etcd member <name> answers" as etcd up or down.
			c.CheckFact(node, "etcd member "+m.Name+" answers", err == nil, detail, factIf(CompEtcd, err == nil, CompUp, CompDown))
			if err != nil {
				return err
			}
			mu.Lock()
			got[node] = st
			mu.Unlock()
			return nil
		})
		return c.explainUnit(ctx, node, err)
	})
	return got, err
}

// checkOneCluster: one cluster ID, one leader, every revision >= want.
func checkOneCluster(c *Context, got map[string]endpointStatus, want int64) error {
	clusters, leaders := map[uint64]bool{}, map[uint64]bool{}
	var errs []error
	for node, st := range got {
		clusters[st.Status.Header.ClusterID] = true
		leaders[st.Status.Leader] = true
		ok := st.Status.Header.Revision >= want
		// A revision below the bump is still a member that answered.
		c.CheckFact(node, fmt.Sprintf("revision >= %d", want), ok, fmt.Sprint(st.Status.Header.Revision),
			Fact{Component: CompEtcd, State: CompUp})
		if !ok {
			errs = append(errs, &NodeError{Node: node, Err: fmt.Errorf("revision %d < snapshot %d + bump %d: was the restore run with --bump-revision?",
				st.Status.Header.Revision, c.Values.SnapshotRevision, c.Values.Bump)})
		}
	}
	c.Check("", "one cluster ID", len(clusters) == 1, fmt.Sprint(len(clusters)))
	c.Check("", "one leader", len(leaders) == 1 && !leaders[0], fmt.Sprint(len(leaders)))
	if len(clusters) != 1 {
		errs = append(errs, fmt.Errorf("members report %d cluster IDs: a member kept its old data dir", len(clusters)))
	}
	if len(leaders) != 1 || leaders[0] {
		errs = append(errs, fmt.Errorf("members do not agree on one leader"))
	}
	return errors.Join(errs...)
}
