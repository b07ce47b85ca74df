package steps

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// The convergence checks of the verify step: proof, read through the API,
// that the cluster works on the restored data and not on what its
// components cached before. Their names are the CheckEvent.Check values the
// scorecard collects (Scorecard.Converged); clients read these, never text.
const (
	CheckNodeLease    = "node Ready, its Lease renewed after the restore"
	CheckWatchRelist  = "revision from before the restore compacted in etcd: watches get 410, informers relist"
	CheckAPIEndpoints = "default/kubernetes lists only the running apiservers"
	CheckLeaderLease  = "leader lease renewed after the restore"
	CheckAddon        = "add-on restarted and ready"
	CheckKubeAPI      = "Kubernetes API reachable with the admin credentials"
)

// ConvergenceChecks lists them, in the order they run.
var ConvergenceChecks = []string{CheckKubeAPI, CheckNodeLease, CheckWatchRelist, CheckAPIEndpoints, CheckLeaderLease, CheckAddon}

// convergeDeadline bounds the waits for a renewal. A kubelet renews its
// Lease every 10 s (a quarter of its 40 s lease, component-helpers'
// lease controller, as pkg/kubelet sets it) and retries failures with a
// backoff of at most 7 s; a restarted one first has to reach its apiserver.
// Leader election renews every 2 s, and a restarted scheduler or
// controller-manager takes over the restored lease once its 15 s duration
// has passed without renewal. 100 s is two and a half node lease durations:
// a node that has not renewed by then is not coming back by itself, and
// the operator decides at the gate (retry waits again).
const convergeDeadline = 100 * time.Second

// watchFromResource is the resource whose list gives the resourceVersion
// recorded in preflight: any list answers with the current etcd revision.
const watchFromResource = "events"

// recordWatchFrom reads the current resourceVersion through the API while
// the cluster is healthy (preflight, before step 1) and journals it. The
// apiservers may already be down in a disaster: the reason is recorded
// instead, and the 410 check then says it could not be made.
func (c *Context) recordWatchFrom(ctx context.Context) error {
	if c.Values.WatchFrom != "" {
		return nil // a resumed run keeps the one read before the restore
	}
	rv, err := c.currentEventsRV(ctx)
	if err != nil {
		c.Values.WatchFromWhy = Clean(err.Error())
	} else {
		c.Values.WatchFrom, c.Values.WatchFromWhy = rv, ""
	}
	c.Check("", "resourceVersion recorded for the 410 check", err == nil, firstNonEmpty(rv, c.Values.WatchFromWhy))
	return c.SaveValues()
}

func (c *Context) currentEventsRV(ctx context.Context) (string, error) {
	api, err := c.kubeAPI(ctx)
	if err != nil {
		return "", err
	}
	l, err := api.cs.CoreV1().Events(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", fmt.Errorf("list %s through %s: %w", watchFromResource, api.server, err)
	}
	return l.ResourceVersion, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// verifyConverged runs every convergence check. A failure is a
// PartialError naming what did not converge (nodes by name), so the
// operator decides at the gate, as with step 5's kubelets.
func verifyConverged(ctx context.Context, c *Context) error {
	api, err := c.kubeAPI(ctx)
	c.Check("", CheckKubeAPI, err == nil, apiDetail(api, err))
	if err != nil {
		return &PartialError{Nodes: []string{"kubernetes-api"}, Kind: PartialNotConverged,
			Why: "the convergence checks need the API: " + err.Error()}
	}
	var (
		mu     sync.Mutex
		failed []string
		whys   []string
	)
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, what)
		whys = append(whys, fmt.Sprintf("%s: %v", what, err))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for node, err := range c.checkNodeLeases(ctx, api) {
			fail(node, err)
		}
	})
	wg.Go(func() {
		if err := c.checkWatchRelist(ctx, api); err != nil {
			fail("watch-410", err)
		}
	})
	wg.Go(func() {
		if err := c.checkAPIEndpoints(ctx, api); err != nil {
			fail("default/kubernetes", err)
		}
	})
	wg.Go(func() {
		for comp, err := range c.checkLeaderLeases(ctx, api) {
			fail(comp, err)
		}
	})
	wg.Go(func() {
		for addon, err := range c.checkAddons(ctx, api) {
			fail(addon, err)
		}
	})
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	sort.Strings(failed)
	sort.Strings(whys)
	return &PartialError{Nodes: failed, Kind: PartialNotConverged, Why: "not converged: " + strings.Join(whys, "; ")}
}

func apiDetail(api *kubeAPI, err error) string {
	if err != nil {
		return err.Error()
	}
	return api.server + " (credentials from " + api.node + ")"
}

// waitConverged polls check every c.Poll until it holds or
// convergeDeadline passes; the error is the last reading's.
func (c *Context) waitConverged(ctx context.Context, check func(ctx context.Context) error) error {
	wctx, cancel := context.WithTimeout(ctx, convergeDeadline)
	defer cancel()
	// The reading cut short by the deadline (client-go's rate limiter
	// refuses a request that would outlive it) says nothing: keep the last
	// reading made in full, which says what never became true.
	var last error
	err := c.waitUntil(wctx, c.Poll, func(ctx context.Context) error {
		err := check(ctx)
		if err != nil && ctx.Err() == nil && !strings.Contains(err.Error(), "rate limiter") {
			last = err
		}
		return err
	})
	if err != nil && wctx.Err() != nil && ctx.Err() == nil {
		if last != nil {
			err = last
		}
		return fmt.Errorf("not true after %s: %w", convergeDeadline, err)
	}
	return err
}

// checkNodeLeases: every node of the cluster file is Ready and renews its
// kube-node-lease Lease. "Renewed" is read without trusting clocks: the
// renewTime must move past the one read when this check began (which is
// after the restore and after step 5), so it proves a kubelet alive now
// against the restored cluster, whatever the skew between node and bastion.
func (c *Context) checkNodeLeases(ctx context.Context, api *kubeAPI) map[string]error {
	names := kubernetesNodes(c)
	first := map[string]time.Time{}
	for _, n := range names {
		if l, err := api.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, n, metav1.GetOptions{}); err == nil {
			first[n] = renewTime(l)
		}
	}
	var mu sync.Mutex
	out := map[string]error{}
	_ = c.parallel(ctx, 0, names, func(ctx context.Context, node string) error {
		if slices.Contains(c.Values.NotFlushed, node) || slices.Contains(c.Values.Accepted[FlushCaches], node) {
			err := errors.New("its kubelet was left unflushed at step 5 (your choice there)")
			c.Check(node, CheckNodeLease, false, err.Error())
			mu.Lock()
			out[node] = err
			mu.Unlock()
			return nil
		}
		var detail string
		err := c.waitConverged(ctx, func(ctx context.Context) error {
			var err error
			detail, err = nodeConverged(ctx, api, node, first[node])
			return err
		})
		if err != nil {
			detail = err.Error()
		}
		c.Check(node, CheckNodeLease, err == nil, detail)
		if err != nil {
			mu.Lock()
			out[node] = fmt.Errorf("did not come back: %w", err)
			mu.Unlock()
		}
		return nil
	})
	return out
}

// kubernetesNodes are the nodes registered with the cluster: control-plane
// and worker nodes. An external etcd host (role etcd alone) runs at most a
// standalone kubelet, registered nowhere, as kubeadm's external etcd guide
// sets it up.
func kubernetesNodes(c *Context) []string {
	var out []string
	for _, n := range c.Cluster.Nodes {
		if n.Has(config.RoleControlPlane) || n.Has(config.RoleWorker) {
			out = append(out, n.Name)
		}
	}
	return out
}

func nodeConverged(ctx context.Context, api *kubeAPI, node string, before time.Time) (string, error) {
	n, err := api.cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the Node %s: %w", node, err)
	}
	ready := corev1.ConditionUnknown
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status
		}
	}
	l, err := api.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("the Lease %s/%s: %w", corev1.NamespaceNodeLease, node, err)
	}
	rt := renewTime(l)
	if !rt.After(before) {
		return "", fmt.Errorf("the Lease %s/%s not renewed since %s (Ready=%s)", corev1.NamespaceNodeLease, node, stampOrNever(rt), ready)
	}
	if ready != corev1.ConditionTrue {
		return "", fmt.Errorf("the Node is Ready=%s (its Lease was renewed at %s)", ready, rt.UTC().Format(time.TimeOnly))
	}
	return fmt.Sprintf("Ready, Lease renewed %s", rt.UTC().Format("15:04:05.000")), nil
}

func renewTime(l *coordinationv1.Lease) time.Time {
	if l == nil || l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

func stampOrNever(t time.Time) string {
	if t.IsZero() {
		return "(never renewed)"
	}
	return t.UTC().Format("15:04:05.000")
}

// checkWatchRelist proves, in etcd itself, that the revisions from before
// the restore are compacted: a read at the newest revision recorded before
// the restore must be refused with mvcc's ErrCompacted ("required revision
// has been compacted"). That is what --mark-compacted gives, and what makes
// every apiserver answer a watch from an older resourceVersion with 410
// (etcd's watch reports the compaction, the apiserver's cacher and its
// etcd3 watcher turn it into "too old resource version") so informers
// relist. Restored without --mark-compacted (and so without
// --bump-revision, which etcdutl refuses alone) etcd either answers the
// read or calls the revision a future one, and a watch from it is
// accepted: the check fails. It asks etcd, not the apiserver, because an apiserver's
// watch cache refuses an old resourceVersion whether or not etcd was
// compacted, which would prove nothing.
func (c *Context) checkWatchRelist(ctx context.Context, _ *kubeAPI) error {
	// The newest revision from before the restore is the one that proves
	// most: an informer may hold any resourceVersion up to the last write
	// before the apiservers stopped (resourceVersions are etcd revisions),
	// and an old one may already be below the snapshot's own compaction
	// (refused with or without --mark-compacted). The API's, read in
	// preflight, stands in when etcd's were not read.
	rv, _ := strconv.ParseInt(c.Values.WatchFrom, 10, 64)
	rv = max(rv, c.Values.LiveRevision, c.Values.RevisionAtStop)
	if rv <= 0 {
		err := fmt.Errorf("no revision was read before the restore (%s)", firstNonEmpty(c.Values.WatchFromWhy, "not recorded"))
		c.Check("", CheckWatchRelist, false, err.Error())
		return err
	}
	var errs []error
	for _, m := range c.members() {
		if len(m.ClientURLs) == 0 {
			continue
		}
		detail, err := c.compactedAt(ctx, m, rv)
		var notCompacted *notCompactedError
		if err == nil || errors.As(err, &notCompacted) {
			c.Check("", CheckWatchRelist, err == nil, firstNonEmpty(detail, errString(err)))
			return err
		}
		errs = append(errs, err) // this member did not answer: ask the next
	}
	err := fmt.Errorf("no member answered a read at revision %d: %w", rv, errors.Join(errs...))
	c.Check("", CheckWatchRelist, false, err.Error())
	return err
}

// errCompactedText is how etcdctl prints mvcc's ErrCompacted as its server
// returns it (rpctypes.ErrGRPCCompacted).
const errCompactedText = "required revision has been compacted"

// errFutureRevText is mvcc's ErrFutureRev: etcd has not reached rev yet.
const errFutureRevText = "required revision is a future revision"

// notCompactedError: etcd answered a read at a revision from before the
// restore instead of refusing it as compacted.
type notCompactedError struct{ msg string }

func (e *notCompactedError) Error() string { return e.msg }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// compactedAt reads at revision rev on m's own etcd, from its node with its
// client TLS (as every etcdctl the engine runs): nil when etcd refuses it
// as compacted, a *notCompactedError when it answers.
func (c *Context) compactedAt(ctx context.Context, m Member, rev int64) (string, error) {
	r := strconv.FormatInt(rev, 10)
	args := append(etcdctlArgs(m, m.ClientURLs[0]), "--command-timeout=10s", "get", "/registry/", "--prefix",
		"--count-only", "--rev="+r, "-w", "fields")
	var refused, future bool
	_, err := c.Exec1(ctx, Action{Node: m.Node, ReadOnly: true, Cmd: sudo(c.Cluster, args...),
		What: "read etcd at revision " + r + " from before the restore (must be refused as compacted)",
		Accept: func(res nodes.Result) error {
			switch {
			case res.ExitCode != 0 && strings.Contains(res.Stderr, errCompactedText):
				refused = true
				return nil
			case res.ExitCode != 0 && strings.Contains(res.Stderr, errFutureRevText):
				future = true
				return nil
			case res.ExitCode == 0:
				return nil
			}
			return fmt.Errorf("exit %d%s", res.ExitCode, stderrTail(res))
		}})
	switch {
	case err != nil:
		return "", err
	case future:
		return "", &notCompactedError{fmt.Sprintf("etcd on %s is behind revision %d from before the restore (%s): the restore did not "+
			"bump the revision, so a watch from it waits for revisions that will hold other changes and informers keep their pre-restore caches "+
			"(was the snapshot restored without --bump-revision and --mark-compacted?)", m.Node, rev, errFutureRevText)}
	case refused:
		return fmt.Sprintf("etcd on %s refuses revision %d from before the restore: %s (restored at %d): "+
			"watches from it get 410 and informers relist", m.Node, rev, errCompactedText, c.Values.SnapshotRevision+c.Values.Bump), nil
	}
	return "", &notCompactedError{fmt.Sprintf("etcd on %s answered a read at revision %d from before the restore: not compacted, "+
		"so a watch from it is accepted and informers keep their pre-restore caches (was the snapshot restored without --mark-compacted?)", m.Node, rev)}
}

// leaderLeases are the control-plane components whose leader election must
// have been won again after the restore (their leases in kube-system).
var leaderLeases = []string{"kube-scheduler", "kube-controller-manager"}

// checkLeaderLeases: each leader Lease is held and renewed past the
// reading taken when the check began (after step 5's restarts).
func (c *Context) checkLeaderLeases(ctx context.Context, api *kubeAPI) map[string]error {
	var mu sync.Mutex
	out := map[string]error{}
	_ = c.parallel(ctx, 0, leaderLeases, func(ctx context.Context, comp string) error {
		leases := api.cs.CoordinationV1().Leases(metav1.NamespaceSystem)
		var before time.Time
		if l, err := leases.Get(ctx, comp, metav1.GetOptions{}); err == nil {
			before = renewTime(l)
		}
		var detail string
		err := c.waitConverged(ctx, func(ctx context.Context) error {
			l, err := leases.Get(ctx, comp, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("the Lease kube-system/%s: %w", comp, err)
			}
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			rt := renewTime(l)
			if holder == "" || !rt.After(before) {
				return fmt.Errorf("the Lease kube-system/%s held by %q, not renewed since %s", comp, holder, stampOrNever(rt))
			}
			detail = fmt.Sprintf("%s held by %s, renewed %s", comp, holder, rt.UTC().Format("15:04:05.000"))
			return nil
		})
		if err != nil {
			detail = err.Error()
		}
		c.Check("", CheckLeaderLease, err == nil, detail)
		if err != nil {
			mu.Lock()
			out[comp+"-leader"] = err
			mu.Unlock()
		}
		return nil
	})
	return out
}
