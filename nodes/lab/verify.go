package lab

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// Check is one invariant of a drill.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report lists the checks of `lab verify`; it holds when every check does.
type Report struct {
	Checks []Check `json:"checks"`
}

// OK reports whether every check holds.
func (r Report) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Failed names the checks that do not hold.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name)
		}
	}
	return out
}

// Names of Verify's checks.
const (
	CheckNoRestoreWhileApiserver = "no-restore-while-apiserver-ran"
	CheckOldDataIntact           = "old-data-dirs-untouched"
	CheckEtcdHealthy             = "etcd-one-healthy-cluster-one-leader"
	CheckRestartedAfterRestore   = "scheduler-controller-manager-kubelets-restarted-after-restore"
	CheckObjects                 = "seed-served-post-snapshot-gone"
	// CheckObjectsKept replaces CheckObjects when the snapshot came from a
	// member's data (Seed.SnapshotFrom): the writes after snapshot.db were
	// in that data, and must survive the restore.
	CheckObjectsKept = "seed-served-post-snapshot-kept"
)

// Verify checks a drill's safety invariants from the lab's timeline and the
// live cluster. It reads only DIR, so `lab verify` works from any process.
func Verify(ctx context.Context, dir string) (Report, error) {
	st, err := ReadStatus(dir)
	if err != nil {
		return Report{}, err
	}
	if !st.Running {
		return Report{}, fmt.Errorf("lab verify: the lab in %s is not running; run `etcd-dr lab up` and a drill first", dir)
	}
	seed, err := ReadSeed(dir)
	if err != nil {
		return Report{}, err
	}
	evs, err := ReadTimeline(dir)
	if err != nil {
		return Report{}, err
	}
	restores := restoreEvents(evs)
	var r Report
	r.Checks = append(r.Checks, checkNoRestoreWhileApiserver(evs, restores))
	r.Checks = append(r.Checks, checkOldData(st, evs, seed))
	r.Checks = append(r.Checks, checkEtcd(ctx, dir, st))
	r.Checks = append(r.Checks, checkRestarted(st, evs, restores))
	r.Checks = append(r.Checks, checkObjects(ctx, dir, st, seed))
	return r, nil
}

// restoreEvents are the SSH commands that restored a snapshot.
func restoreEvents(evs []Event) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == EvSSHExec && strings.Contains(e.Command, "snapshot restore") &&
			(strings.Contains(e.Command, "etcdutl") || strings.Contains(e.Command, "etcdctl")) {
			out = append(out, e)
		}
	}
	return out
}

// checkNoRestoreWhileApiserver replays pod starts and exits: at the moment
// of every restore, no kube-apiserver may run on any node.
func checkNoRestoreWhileApiserver(evs []Event, restores []Event) Check {
	c := Check{Name: CheckNoRestoreWhileApiserver}
	if len(restores) == 0 {
		c.OK, c.Detail = true, "no restore ran"
		return c
	}
	running := map[int]string{} // pid → node
	ri := 0
	var bad []string
	for _, e := range evs {
		if e.Pod == "kube-apiserver" && e.Kind == EvPodStart {
			running[e.PID] = e.Node
		}
		if e.Pod == "kube-apiserver" && e.Kind == EvPodExit {
			delete(running, e.PID)
		}
		if ri < len(restores) && e == restores[ri] {
			for pid, node := range running {
				bad = append(bad, fmt.Sprintf("restore on %s at %s while kube-apiserver pid %d ran on %s",
					e.Node, e.Time.Format(time.RFC3339Nano), pid, node))
			}
			ri++
		}
	}
	c.OK = len(bad) == 0
	c.Detail = fmt.Sprintf("%d restore command(s), none while an apiserver ran", len(restores))
	if !c.OK {
		c.Detail = strings.Join(bad, "; ")
	}
	return c
}

// checkOldData compares each original data dir with its digest taken when
// its etcd stopped after the seed.
func checkOldData(st Status, evs []Event, seed Seed) Check {
	c := Check{Name: CheckOldDataIntact, OK: true}
	var notes []string
	for _, n := range st.Nodes {
		var first *Event
		for i := range evs {
			e := evs[i]
			if e.Kind == EvEtcdData && e.Node == n.Name && e.DataDir == "/var/lib/etcd" && e.Time.After(seed.Time) {
				first = &evs[i]
				break
			}
		}
		if first == nil {
			continue
		}
		now, err := dirDigest(filepath.Join(fmt.Sprintf("/proc/%d/root", n.InitPID), first.DataDir))
		if err != nil || now != first.Digest {
			c.OK = false
			notes = append(notes, fmt.Sprintf("%s: %s changed since its etcd stopped at %s (%v)",
				n.Name, first.DataDir, first.Time.Format(time.RFC3339), err))
			continue
		}
		notes = append(notes, n.Name+": "+first.DataDir+" unchanged")
	}
	c.Detail = strings.Join(notes, "; ")
	if c.Detail == "" {
		c.Detail = "no etcd stopped since the seed: nothing to compare"
	}
	return c
}

// memberEndpoints reads each member's client URL from its node's etcd.yaml
// or, in systemd mode, /etc/etcd.env: after a drill that moved members, the
// node's configuration is the truth.
func memberEndpoints(st Status) []string {
	var out []string
	for _, n := range st.Nodes {
		root := fmt.Sprintf("/proc/%d/root", n.InitPID)
		var m manifest.EtcdMember
		if b, err := os.ReadFile(root + "/etc/kubernetes/manifests/etcd.yaml"); err == nil {
			p, err := manifest.Parse(b)
			if err != nil {
				continue
			}
			if m, err = manifest.EtcdMemberFrom(p); err != nil {
				continue
			}
		} else if b, err := os.ReadFile(root + etcdEnvFile); err == nil {
			if m, err = manifest.ParseEtcdEnv(b); err != nil {
				continue
			}
		}
		if len(m.ClientURLs) > 0 {
			out = append(out, m.ClientURLs[0])
		}
	}
	return out
}

func checkEtcd(ctx context.Context, dir string, st Status) Check {
	c := Check{Name: CheckEtcdHealthy}
	eps := memberEndpoints(st)
	if len(eps) == 0 {
		c.Detail = "no etcd.yaml found on any node"
		return c
	}
	cfg, err := etcdClientConfig(dir, eps)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	defer cli.Close()
	clusters, leaders := map[uint64]bool{}, map[uint64]bool{}
	var problems []string
	for _, ep := range eps {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			problems = append(problems, ep+": "+err.Error())
			continue
		}
		clusters[s.Header.ClusterId] = true
		leaders[s.Leader] = true
		for _, e := range s.Errors {
			problems = append(problems, ep+": "+e)
		}
	}
	if len(clusters) > 1 {
		problems = append(problems, fmt.Sprintf("%d different cluster IDs: a split cluster", len(clusters)))
	}
	if len(leaders) != 1 || leaders[0] {
		problems = append(problems, fmt.Sprintf("members disagree on the leader or have none (%d leader ids)", len(leaders)))
	}
	c.OK = len(problems) == 0
	c.Detail = fmt.Sprintf("%d members answer, one cluster, one leader", len(eps))
	if !c.OK {
		c.Detail = strings.Join(problems, "; ")
	}
	return c
}

// checkRestarted wants, after the last restore, a new kube-scheduler and
// kube-controller-manager on every control-plane node and a kubelet restart
// on every node: their caches hold pre-restore state otherwise.
func checkRestarted(st Status, evs []Event, restores []Event) Check {
	c := Check{Name: CheckRestartedAfterRestore}
	if len(restores) == 0 {
		c.Detail = "no restore recorded in the timeline"
		return c
	}
	last := restores[len(restores)-1].Time
	seen := map[string]bool{}
	for _, e := range evs {
		if !e.Time.After(last) {
			continue
		}
		switch {
		case e.Kind == EvPodStart && (e.Pod == "kube-scheduler" || e.Pod == "kube-controller-manager"):
			seen[e.Node+"/"+e.Pod] = true
		case e.Kind == EvKubeletRestart:
			seen[e.Node+"/kubelet"] = true
		}
	}
	var missing []string
	for _, n := range st.Nodes {
		want := []string{"kubelet"}
		if strings.HasPrefix(n.Name, "cp-") {
			want = append(want, "kube-scheduler", "kube-controller-manager")
		}
		for _, w := range want {
			if !seen[n.Name+"/"+w] {
				missing = append(missing, n.Name+"/"+w)
			}
		}
	}
	c.OK = len(missing) == 0
	c.Detail = "every component restarted after the restore at " + last.Format(time.RFC3339)
	if !c.OK {
		c.Detail = "not restarted after the restore at " + last.Format(time.RFC3339) + ": " + strings.Join(missing, ", ")
	}
	return c
}

// checkObjects reads through a kube-apiserver: seed objects must be served,
// post-snapshot objects must be gone.
func checkObjects(ctx context.Context, dir string, st Status, seed Seed) Check {
	c := Check{Name: CheckObjects}
	kept := seed.SnapshotFrom != ""
	if kept {
		c.Name = CheckObjectsKept
	}
	var tok Tokens
	if b, err := os.ReadFile(filepath.Join(dir, stateFile)); err == nil {
		var s State
		if jsonUnmarshal(b, &s) == nil {
			tok = s.Tokens
		}
	}
	hc, err := apiClientFor(dir)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	defer hc.CloseIdleConnections()
	var base string
	for _, n := range st.Nodes {
		if strings.HasPrefix(n.Name, "cp-") && get(ctx, hc, "https://"+n.Addr+":6443", "/readyz", tok.Admin) == http.StatusOK {
			base = "https://" + n.Addr + ":6443"
			break
		}
	}
	if base == "" {
		c.Detail = "no kube-apiserver is ready"
		return c
	}
	var bad []string
	for _, p := range seed.Seed {
		if code := get(ctx, hc, base, p, tok.Admin); code != http.StatusOK {
			bad = append(bad, fmt.Sprintf("seed %s: HTTP %d, want 200", p, code))
		}
	}
	for _, p := range seed.PostSnapshot {
		code := get(ctx, hc, base, p, tok.Admin)
		switch {
		case kept && code != http.StatusOK:
			bad = append(bad, fmt.Sprintf("post-snapshot %s: HTTP %d, want 200 (restored from a member's data, which held it: a write was lost)", p, code))
		case !kept && code != http.StatusNotFound:
			bad = append(bad, fmt.Sprintf("post-snapshot %s: HTTP %d, want 404 (a write after the snapshot survived)", p, code))
		}
	}
	bad = append(bad, checkRawKeys(ctx, dir, st, seed)...)
	c.OK = len(bad) == 0
	c.Detail = fmt.Sprintf("%d seed objects served, %d post-snapshot objects gone (via %s)", len(seed.Seed), len(seed.PostSnapshot), base)
	if kept {
		c.Detail = fmt.Sprintf("%d seed objects and %d post-snapshot objects served: the member's data kept them (via %s)", len(seed.Seed), len(seed.PostSnapshot), base)
	}
	if !c.OK {
		c.Detail = strings.Join(bad, "; ")
	}
	return c
}

func get(ctx context.Context, c *http.Client, base, path, token string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// checkRawKeys reads the seed's raw etcd keys (written beside the API
// objects): the pre-snapshot key must exist, the post-snapshot one must not.
func checkRawKeys(ctx context.Context, dir string, st Status, seed Seed) []string {
	cfg, err := etcdClientConfig(dir, memberEndpoints(st))
	if err != nil {
		return []string{err.Error()}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return []string{"etcd client: " + err.Error()}
	}
	defer cli.Close()
	var bad []string
	want := map[string]int64{seed.RawSeed: 1, seed.RawPost: 0}
	if seed.Keys > 0 {
		want[KeysPrefix] = int64(seed.Keys) // counted as a prefix, below
	}
	if seed.SnapshotFrom != "" { // the member's data held the writes after snapshot.db (seedKeysAfter)
		want[seed.RawPost] = 1
		if n := seed.Keys; n > 0 {
			added, deleted := min(keyChangesAfter, n), 0
			if n > 2*keyChangesAfter {
				deleted = added
			}
			want[KeysPrefix] = int64(n + added - deleted)
		}
	}
	for key, want := range want {
		opts := []clientv3.OpOption{clientv3.WithCountOnly()}
		if key == KeysPrefix {
			opts = append(opts, clientv3.WithPrefix())
		}
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := cli.Get(gctx, key, opts...)
		cancel()
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("etcd key %s: %v", key, err))
		case resp.Count != want:
			bad = append(bad, fmt.Sprintf("etcd key %s: %d found, want %d", key, resp.Count, want))
		}
	}
	return bad
}
