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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/etcd-dr/etcd-dr/config"
)

// The convergence checks of the verify step: proof, read through the API,
// that the cluster works on the restored data and not on what its
// components cached before. Their names are the CheckEvent.Check values the
// scorecard collects (Scorecard.Converged); clients read these, never text.
const (
	CheckNodeLease    = "node Ready, its Lease renewed after the restore"
	CheckWatchRelist  = "watch from before the restore refused with 410: informers relist"
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

// watchRefusalWait is how long the 410 check waits for a watch from the
// recorded resourceVersion to be refused. A compacted revision is refused at
// once (etcd answers the watch request with its compact revision); a watch
// that stays open that long was accepted, which is the failure.
const watchRefusalWait = 10 * time.Second

// watchFromResource is the resource the recorded resourceVersion and the
// 410 watch use: Events, which kube-apiserver keeps out of its watch cache by
// default (DefaultWatchCacheSizes: events 0), so the watch reaches etcd
// itself. A cached resource would answer 410 from the fresh watch cache even
// after a restore without --mark-compacted, proving nothing.
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

// checkWatchRelist opens a watch from the resourceVersion read before the
// restore. With --mark-compacted the restored etcd is compacted at its new
// revision, so the watch is refused with 410 Gone ("too old resource
// version") and every informer relists. Without it the watch is accepted
// (the bumped revisions in between simply do not exist) and informers
// keep the caches they held before the restore: the check fails.
func (c *Context) checkWatchRelist(ctx context.Context, api *kubeAPI) error {
	// The newest resourceVersion from before the restore is the one that
	// proves most: an informer may hold any RV up to the last write before
	// the apiservers stopped, and an old one may already be below the
	// snapshot's own compaction (refused with or without --mark-compacted).
	// etcd's revision read in preflight and once every apiserver was
	// stopped are resourceVersions too (the apiserver's are etcd revisions),
	// and stand in when no apiserver answered in preflight.
	rv := c.Values.WatchFrom
	api0, _ := strconv.ParseInt(rv, 10, 64)
	if r := max(c.Values.LiveRevision, c.Values.RevisionAtStop); r > api0 {
		rv = strconv.FormatInt(r, 10)
	}
	if rv == "" {
		err := fmt.Errorf("no resourceVersion was read before the restore (%s)", firstNonEmpty(c.Values.WatchFromWhy, "not recorded"))
		c.Check("", CheckWatchRelist, false, err.Error())
		return err
	}
	refused, detail, err := watchRefused(ctx, api, rv)
	if err == nil && !refused {
		err = errors.New(detail)
	}
	if err != nil {
		c.Check("", CheckWatchRelist, false, err.Error())
		return err
	}
	c.Check("", CheckWatchRelist, true, detail)
	return nil
}

// watchRefused reports whether a watch of events from rv is refused as too
// old (410 Gone / Expired), either when opened or as its first event.
func watchRefused(ctx context.Context, api *kubeAPI, rv string) (bool, string, error) {
	wctx, cancel := context.WithTimeout(ctx, watchRefusalWait+5*time.Second)
	defer cancel()
	timeout := int64(watchRefusalWait / time.Second)
	w, err := api.cs.CoreV1().Events("").Watch(wctx, metav1.ListOptions{ResourceVersion: rv, TimeoutSeconds: &timeout})
	if tooOld(err) {
		return true, fmt.Sprintf("watch of %s from resourceVersion %s: %v", watchFromResource, rv, err), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("watch of %s from resourceVersion %s: %w", watchFromResource, rv, err)
	}
	defer w.Stop()
	timer := time.NewTimer(watchRefusalWait)
	defer timer.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		switch {
		case !ok:
			return false, fmt.Sprintf("the watch from resourceVersion %s ended without an error: not compacted "+
				"(was the snapshot restored without --mark-compacted?)", rv), nil
		case ev.Type == watch.Error:
			serr := apierrors.FromObject(ev.Object)
			if tooOld(serr) {
				return true, fmt.Sprintf("watch of %s from resourceVersion %s refused: %v", watchFromResource, rv, serr), nil
			}
			return false, "", fmt.Errorf("watch from resourceVersion %s: %w", rv, serr)
		default:
			return false, fmt.Sprintf("the watch from resourceVersion %s was accepted and replayed a %s event: "+
				"informers would keep their pre-restore caches (was the snapshot restored without --mark-compacted?)", rv, ev.Type), nil
		}
	case <-timer.C:
		return false, fmt.Sprintf("the watch from resourceVersion %s was accepted and stayed open %s: informers would keep "+
			"their pre-restore caches (was the snapshot restored without --mark-compacted?)", rv, watchRefusalWait), nil
	case <-ctx.Done():
		return false, "", ctx.Err()
	}
}

func tooOld(err error) bool {
	return err != nil && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err))
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
