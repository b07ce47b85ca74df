package steps

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/config/safefile"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// minEtcdutl is the oldest etcdutl whose restore supports --bump-revision
// and --mark-compacted together.
var minEtcdutl = [3]int{3, 5, 10}

// PreflightStep proves, read-only, that the restore can succeed, decides
// the run's values once, and takes the lock.
func PreflightStep() Step {
	return Step{
		ID:    Preflight,
		Title: "Preflight: reach every node, read the manifests, verify and copy the snapshot, take the lock",
		Why:   "Nothing is changed yet. Every later step relies on what this one reads and decides: member names and URLs, the snapshot's hash and revision, the revision bump.",
		Plan:  preflightPlan,
		Run:   runPreflight,
		Verify: func(ctx context.Context, c *Context) error {
			if err := CheckLockHeld(ctx, c); err != nil {
				return err
			}
			return c.ForEachNode(ctx, memberNodes(c.members()), func(ctx context.Context, node string) error {
				return c.checkSnapshotOn(ctx, node)
			})
		},
		Undo: ReleaseLock,
	}
}

// preflightPlan lists every command preflight runs, per node.
func preflightPlan(c *Context) ([]Action, error) {
	var out []Action
	own, run := c.lockMarks()
	for _, n := range c.Cluster.Nodes {
		out = append(out, sudoCheck(n.Name))
		out = append(out, c.toolLookupActions(n.Name)...)
		if n.Has(config.RoleControlPlane) || n.Has(config.RoleEtcd) { // lockNodes: CheckLockFree
			out = append(out, peekAction(c, n.Name, own, run))
		}
		if n.Name == c.snapshotHolder() {
			out = append(out, c.fetchActions().list()...)
		}
		if n.Has(config.RoleEtcd) {
			out = append(out, catAction(c, n.Name, c.etcdSource()))
			out = append(out, c.toolPlan(n.Name)...)
			out = append(out, c.preflightSnapshotActions(n.Name)...) // source_member_take.go: a file, or the members' dbs
			m := memberOn(c.members(), n.Name)
			out = append(out, c.diskFree(n.Name), statusAction(c, m, c.val(first(m.ClientURLs), "<client URL of "+n.Name+">")))
			if c.systemd() {
				out = append(out, c.unitUserAction(m))
			}
		}
		if n.Has(config.RoleControlPlane) {
			out = append(out, catAction(c, n.Name, path.Join(c.Cluster.Etcd.ManifestsDir, apiserverManifest)))
		}
		if len(c.parkedManifests(n)) > 0 {
			out = append(out, c.manifestsDump(n.Name))
		}
		out = append(out, c.readinessPlan(n.Name, n.Has(config.RoleControlPlane), n.Has(config.RoleEtcd))...) // readiness_run.go
	}
	lock, err := lockActions(c)
	return append(out, lock...), err
}

// snapshotActs copy the verified snapshot to a member and check it there;
// the node holding the snapshot (snapshot.on) has no copy (inPlace), only
// its file checked.
type snapshotActs struct {
	copy, check Action
	inPlace     bool
}

func (a snapshotActs) list() []Action {
	if a.inPlace {
		return []Action{a.check}
	}
	return []Action{a.copy, a.check}
}

func (c *Context) snapshotActions(node string) snapshotActs {
	dst := c.snapshotOnMember(node)
	check := Action{Node: node, What: "check the copy's sha256 matches the snapshot verified on the bastion", Cmd: sudo(c.Cluster, "sha256sum", "--", dst), Long: true}
	check.Cmd.Timeout = c.sizedTimeout(copyPasses)
	if node == c.snapshotHolder() {
		check.What = "check the snapshot's sha256 where it lies (used in place, never changed)"
		return snapshotActs{check: check, inPlace: true}
	}
	cp := shCmd(c.Cluster, `set -e; umask 077; cat >"$1.part"; mv -- "$1.part" "$1"`, dst)
	cp.Timeout = c.copyBackstop() // copyStall ends a copy that stops moving (copyTo)
	return snapshotActs{copy: Action{Node: node, What: "copy the verified snapshot from the bastion to this member", Cmd: cp}, check: check}
}

func (c *Context) diskFree(node string) Action {
	return Action{Node: node, What: "check free disk: the new data dir needs twice the snapshot's size", Cmd: nodes.Cmd{Args: []string{"df", "-Pk", "--",
		path.Dir(c.val(c.Values.DataDir, "/var/lib/"+PhDataDir))}}}
}

func runPreflight(ctx context.Context, c *Context) error {
	if err := c.decide(); err != nil {
		return err
	}
	all := names(c.Cluster.Nodes)
	if err := c.ForEachNode(ctx, all, func(ctx context.Context, node string) error {
		_, err := c.Exec1(ctx, sudoCheckLeavingTimeout(node)) // tools_node.go
		return err
	}); err != nil {
		return fmt.Errorf("passwordless sudo (sudo -n) must work on every node: %w", err)
	}
	if err := c.checkNodeTools(ctx); err != nil { // tools_node.go: each program a later step runs, found as it will run it
		return err
	}
	if err := CheckLockFree(ctx, c); err != nil { // lock.go: before anything a holder may have moved is read
		return err
	}
	if err := c.readInventory(ctx); err != nil {
		return err
	}
	if err := c.checkDuplicatePods(ctx); err != nil {
		return err
	}
	if err := c.readEtcdVersions(ctx); err != nil {
		return err
	}
	if err := c.verifySnapshot(ctx); err != nil {
		return err
	}
	if err := c.readiness(ctx); err != nil { // readiness_run.go: storage version and tools folded in
		return err
	}
	if err := c.ForEachNode(ctx, memberNodes(c.members()), func(ctx context.Context, node string) error {
		return c.prepareMember(ctx, node)
	}); err != nil {
		return err
	}
	if err := c.recordWatchFrom(ctx); err != nil { // converge.go: the 410 check's starting point
		return err
	}
	c.readLiveRevision(ctx)
	c.Values.SnapshotDiff = c.SnapshotDiffFacts(ctx)
	bump, err := ComputeBump(c.Cluster.Etcd.BumpRevision, c.Values.LiveRevision, c.Values.SnapshotRevision)
	if err != nil {
		return err
	}
	c.Values.Bump = bump
	if err := c.SaveValues(); err != nil {
		return err
	}
	return TakeLock(ctx, c)
}

func sudoCheck(node string) Action {
	return Action{Node: node, What: "check passwordless sudo: a password prompt would hang the procedure", Cmd: nodes.Cmd{Args: []string{"true"}, Sudo: true}}
}

// decide fixes the run's data dir and token once; a resumed run keeps them.
func (c *Context) decide() error {
	if c.Values.DataDir == "" {
		dir, err := RenderDataDir(c.Cluster.Etcd.RestoredDataDir, c.Values.StartedAt)
		if err != nil {
			return err
		}
		c.Values.DataDir = dir
	}
	if c.Values.Token == "" {
		c.Values.Token = "etcd-dr-" + c.Values.Run
	}
	return c.SaveValues()
}

func (c *Context) readInventory(ctx context.Context) error {
	var members []Member
	var apis []Apiserver
	for _, n := range c.Cluster.Nodes { // sequential: two small reads per node keep the inventory in file order
		if n.Has(config.RoleEtcd) {
			res, err := c.Exec1(ctx, catAction(c, n.Name, c.etcdSource()))
			if err != nil {
				return err
			}
			m, err := MemberFromManifest(n.Name, c.Cluster.Etcd.Mode, []byte(res.Stdout))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", n.Name, c.etcdSource(), err)
			}
			members = append(members, m)
		}
		if n.Has(config.RoleControlPlane) {
			file := path.Join(c.Cluster.Etcd.ManifestsDir, apiserverManifest)
			res, err := c.Exec1(ctx, catAction(c, n.Name, file))
			if err != nil {
				return err
			}
			a, err := ApiserverFromManifest(n.Name, []byte(res.Stdout))
			if err != nil {
				return fmt.Errorf("%s: %s: %w", n.Name, file, err)
			}
			apis = append(apis, a)
		}
	}
	if err := CheckMembers(members); err != nil {
		return err
	}
	c.Values.Members, c.Values.Apiservers = members, apis
	return c.SaveValues()
}

func (c *Context) verifySnapshot(ctx context.Context) error {
	if c.fromMember() {
		return c.rankSources(ctx) // source_member.go: the snapshot is a member's data
	}
	local, node, nodeSHA := c.Cluster.Snapshot.Path, c.snapshotHolder(), ""
	if node != "" {
		var err error
		if nodeSHA, err = c.fetchSnapshot(ctx); err != nil {
			return err
		}
		local = c.Values.SnapshotBastionCopy
	}
	info, err := snapshot.Verify(local)
	if err == nil && !info.TrailerOK && !info.SidecarOK {
		err = fmt.Errorf("%s has no sha256 trailer or sidecar to prove it is whole: take a snapshot with etcdctl snapshot save or etcd-dr", info.Path)
	}
	if err != nil && node != "" {
		return fmt.Errorf("snapshot %s on %s is refused (checked on the copy read from it over SSH): %w", c.Cluster.Snapshot.Path, node, err)
	}
	if err != nil {
		return err
	}
	if node != "" && info.SHA256 != nodeSHA {
		return fmt.Errorf("snapshot %s on %s has sha256 %s but the copy read from it has %s: it changed while being read; retry when nothing writes it",
			c.Cluster.Snapshot.Path, node, nodeSHA, info.SHA256)
	}
	for _, line := range info.Card() {
		c.Check("", "snapshot", true, line)
	}
	if err := c.checkSnapshotMembers(local); err != nil {
		return err
	}
	c.Values.SnapshotSHA256, c.Values.SnapshotRevision, c.Values.SnapshotSize = info.SHA256, info.Revision, info.Size
	c.Values.SnapshotMemberCopy = c.memberCopyPath()
	return c.SaveValues()
}

// checkSnapshotMembers refuses another cluster's snapshot (see
// SnapshotFromCluster) before anything is copied or changed.
func (c *Context) checkSnapshotMembers(local string) error {
	snap, err := snapshot.Members(local)
	if err != nil {
		return err
	}
	facts, err := SnapshotFromCluster(c.Cluster.Snapshot.Path, snap, c.members(), c.Cluster.Snapshot.MembersRenamed)
	detail := strings.Join(facts, "; ")
	if err != nil {
		detail = "no member name shared with this cluster"
	}
	c.Check("", "snapshot comes from this cluster", err == nil, detail)
	if err != nil {
		return err
	}
	c.Values.SnapshotMembers = facts
	return nil
}

// prepareMember checks disk, then copies and checks the snapshot.
func (c *Context) prepareMember(ctx context.Context, node string) error {
	if err := c.checkUnitUser(ctx, node); err != nil {
		return err
	}
	if err := c.removePartialCopy(ctx, node); err != nil {
		return err
	}
	res, err := c.Exec1(ctx, c.diskFree(node))
	if err != nil {
		return err
	}
	avail, perr := nodes.ParseDFAvail(res.Stdout)
	ok := perr == nil && avail >= 2*c.Values.SnapshotSize
	c.Check(node, "free disk >= 2x snapshot", ok, fmt.Sprintf("%d bytes free", avail))
	if !ok {
		return fmt.Errorf("%d bytes free under %s, need %d (2x the snapshot): free space or set etcd.restoredDataDir elsewhere",
			avail, path.Dir(c.Values.DataDir), 2*c.Values.SnapshotSize)
	}
	if c.sourceNotTaken() {
		return nil // snapshot.from: nothing to copy before step 2 takes the member's db
	}
	// Is an earlier attempt's copy already there? On a member without one
	// this check fails by design: a probe, not long work to report (its
	// progress line would say FAILED); the holder's file in place is hashed
	// for real.
	if err := c.checkSnapshot(ctx, node, node == c.snapshotHolder()); err == nil || node == c.snapshotHolder() {
		return err // already copied by an earlier attempt, or the file in place (checked, never written)
	}
	f, _, err := safefile.Open(c.snapshotOnBastion(), 0) // swapped for a FIFO since preflight: refused, not waited on
	if err != nil {
		return err
	}
	defer f.Close()
	if err := c.copyTo(ctx, node, f); err != nil {
		return err
	}
	return c.checkSnapshotOn(ctx, node)
}

func (c *Context) checkSnapshotOn(ctx context.Context, node string) error {
	return c.checkSnapshot(ctx, node, true)
}

// checkSnapshot checks the sha256 of the snapshot node restores from; long
// reports its progress (a probe does not).
func (c *Context) checkSnapshot(ctx context.Context, node string, long bool) error {
	if c.sourceNotTaken() {
		return nil
	}
	check := c.snapshotActions(node).check
	check.Long = long
	res, err := c.Exec1(ctx, check)
	got := strings.Fields(res.Stdout)
	ok := err == nil && len(got) > 0 && got[0] == c.Values.SnapshotSHA256
	file := c.snapshotOnMember(node)
	c.Check(node, "snapshot on the node matches sha256", ok, file)
	if err != nil {
		return err
	}
	if !ok {
		if node == c.snapshotHolder() {
			return fmt.Errorf("the snapshot %s on %s no longer matches the sha256 %s verified in preflight: something changed it; find out what, then start a new run", file, node, c.Values.SnapshotSHA256)
		}
		return fmt.Errorf("the snapshot copy %s does not match sha256 %s", file, c.Values.SnapshotSHA256)
	}
	return nil
}

var versionRe = regexp.MustCompile(`etcdutl version:\s*(\d+)\.(\d+)\.(\d+)`)

func checkEtcdutlVersion(out string) error {
	m := versionRe.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("cannot read the etcdutl version from %q", clip(out))
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	for i := range v {
		if v[i] != minEtcdutl[i] {
			if v[i] < minEtcdutl[i] {
				return fmt.Errorf("etcdutl %d.%d.%d is too old: --bump-revision with --mark-compacted needs >= 3.5.10; install a newer etcdutl", v[0], v[1], v[2])
			}
			break
		}
	}
	return nil
}

// readLiveRevision records the highest revision a member reports now; an
// unreachable etcd leaves 0, and the bump falls back to 1e9.
func (c *Context) readLiveRevision(ctx context.Context) {
	// All members at once: in a real disaster several may be down, and
	// asking them in turn would cost a status timeout each.
	var mu sync.Mutex
	ms := c.members()
	_ = c.parallel(ctx, 0, memberNodes(ms), func(ctx context.Context, node string) error {
		st, err := c.memberStatus(ctx, memberOn(ms, node))
		if err != nil {
			// Unreachable: the revision is read from the others, or 1e9
			// bumps it; said, never hidden (a missing etcdctl once hid here).
			c.CheckFact(node, "live etcd revision read", false, err.Error(), Fact{Component: CompEtcd, State: CompDown})
			return nil
		}
		// An answer proves the member runs: the inventory shows it up.
		c.CheckFact(node, "live etcd revision read", true, strconv.FormatInt(st.Status.Header.Revision, 10), Fact{Component: CompEtcd, State: CompUp})
		mu.Lock()
		c.Values.LiveRevision = max(c.Values.LiveRevision, st.Status.Header.Revision)
		mu.Unlock()
		return nil
	})
	c.Check("", "live etcd revision", c.Values.LiveRevision > 0, strconv.FormatInt(c.Values.LiveRevision, 10))
}
