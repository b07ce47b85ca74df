package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/etcd-dr/etcd-dr/config"
)

// convergePlan is what the verify step's gate found to put right, read
// through the API just before the gate (BeforeGate): master leases of
// apiservers that no longer run, and the add-ons to restart. Proceeding at
// that gate is the operator's consent to both.
type convergePlan struct {
	surveyed bool
	why      string   // the survey could not be made: nothing is changed
	stale    []string // IPs of /registry/masterleases/ keys no running apiserver owns
	leaseOn  *Member  // the member the stale leases are read and removed through
	addons   []addonRef
	absent   []addonRef
	restart  map[string]bool // add-ons restarted by this run's Run, by key
}

// masterLeasePrefix is where kube-apiserver's lease endpoint reconciler
// (the default, --endpoint-reconciler-type=lease) keeps one key per
// apiserver IP, from which it writes default/kubernetes.
const masterLeasePrefix = "/registry/masterleases/"

// addonRef is one add-on workload restarted as `kubectl rollout restart`
// does.
type addonRef struct {
	Kind, Namespace, Name string
	// Optional: the CNI candidates; absent ones are not mentioned.
	Optional bool
}

func (a addonRef) key() string { return a.Kind + " " + a.Namespace + "/" + a.Name }

// defaultAddons are restarted after a restore, as their informers predate
// it: kube-proxy's rules and CoreDNS's records would serve the old Services
// and Endpoints until their next relist. The CNI DaemonSet is the one found
// among the common ones (Calico, Cilium, Flannel, Weave, Canal, Antrea).
var defaultAddons = []addonRef{
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "kube-proxy"},
	{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "calico-node", Optional: true},
	{Kind: "DaemonSet", Namespace: "calico-system", Name: "calico-node", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "cilium", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-flannel", Name: "kube-flannel-ds", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "kube-flannel-ds", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "weave-net", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "canal", Optional: true},
	{Kind: "DaemonSet", Namespace: "kube-system", Name: "antrea-agent", Optional: true},
}

// addonList is verify.addons from the cluster file when set (each one
// expected: a missing one is named at the gate), else defaultAddons.
func (c *Context) addonList() []addonRef {
	if c.Cluster.Verify.Addons == nil {
		return defaultAddons
	}
	out := make([]addonRef, 0, len(c.Cluster.Verify.Addons))
	for _, a := range c.Cluster.Verify.Addons {
		out = append(out, addonRef{Kind: a.Kind, Namespace: a.Namespace, Name: a.Name})
	}
	return out
}

// surveyConvergence fills c.conv before the verify gate. It never fails the
// step: what it cannot read is said at the gate and nothing is changed.
func surveyConvergence(ctx context.Context, c *Context) error {
	c.conv = convergePlan{surveyed: true, restart: map[string]bool{}}
	api, err := c.kubeAPI(ctx)
	if err != nil {
		c.conv.why = err.Error()
		return nil
	}
	for _, a := range c.addonList() {
		err := addonExists(ctx, api, a)
		switch {
		case err == nil:
			c.conv.addons = append(c.conv.addons, a)
		case apierrors.IsNotFound(err):
			if !a.Optional {
				c.conv.absent = append(c.conv.absent, a)
			}
		default:
			c.conv.why = fmt.Sprintf("read %s: %v", a.key(), err)
			c.conv.addons = nil
			return nil
		}
	}
	c.conv.stale, c.conv.leaseOn = c.staleMasterLeases(ctx)
	return nil
}

// expectedAPIServerIPs are the addresses the running apiservers advertise:
// what default/kubernetes must list, and the master leases that may exist.
// The apiserver's endpoint reconciler writes its --advertise-address, else
// its --bind-address, else the node's address (a kubeadm node advertises
// its IP); where it listens (Host) is not what it advertises.
func (c *Context) expectedAPIServerIPs() []string {
	var out []string
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		ip := n.Address
		if a, ok := c.apiserverOf(n.Name); ok {
			switch {
			case a.Advertise != "":
				ip = a.Advertise
			case a.Host != "" && !isLoopback(a.Host):
				ip = a.Host
			}
		}
		out = append(out, ip)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func isLoopback(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// staleMasterLeases lists master lease keys (read-only, keys only) on the
// first member that answers, and returns the IPs no running apiserver has.
func (c *Context) staleMasterLeases(ctx context.Context) ([]string, *Member) {
	want := c.expectedAPIServerIPs()
	for _, m := range c.members() {
		if len(m.ClientURLs) == 0 {
			continue
		}
		args := append(etcdctlArgs(m, first(m.ClientURLs)), "--command-timeout=15s", "get", "--prefix", "--keys-only", "--", masterLeasePrefix)
		res, err := c.Exec1(ctx, Action{Node: m.Node, What: "list the apiservers' master leases", ReadOnly: true, Cmd: sudo(c.Cluster, args...)})
		if err != nil {
			continue
		}
		var stale []string
		for _, l := range strings.Split(res.Stdout, "\n") {
			ip, ok := strings.CutPrefix(strings.TrimSpace(l), masterLeasePrefix)
			if ok && ip != "" && !slices.Contains(want, ip) {
				stale = append(stale, ip)
			}
		}
		m := m
		return stale, &m
	}
	return nil, nil
}

// convergeFacts are the verify gate's lines about what proceeding changes.
func convergeFacts(c *Context) []string {
	p := c.conv
	if !p.surveyed {
		return nil
	}
	if p.why != "" {
		return []string{"convergence: the API could not be surveyed, nothing will be changed through it: " + p.why}
	}
	var out []string
	if len(p.stale) > 0 {
		out = append(out, fmt.Sprintf("stale master leases of apiservers that no longer run (%s): proceeding removes them, "+
			"so default/kubernetes stops sending clients there", strings.Join(p.stale, ", ")))
	} else {
		out = append(out, "no stale master lease: default/kubernetes can list only the running apiservers ("+
			strings.Join(c.expectedAPIServerIPs(), ", ")+")")
	}
	if len(p.addons) > 0 {
		var ks []string
		for _, a := range p.addons {
			ks = append(ks, a.key())
		}
		out = append(out, "add-ons restarted through the API (as kubectl rollout restart), each waited on until ready: "+strings.Join(ks, ", "))
	}
	for _, a := range p.absent {
		out = append(out, "add-on "+a.key()+" not found: nothing to restart")
	}
	return out
}

// removeStaleLeaseActions delete the stale master leases found before the gate.
func removeStaleLeaseActions(c *Context) []Action {
	m := c.conv.leaseOn
	if m == nil {
		return nil
	}
	var out []Action
	for _, ip := range c.conv.stale {
		args := append(etcdctlArgs(*m, first(m.ClientURLs)), "--command-timeout=15s", "del", "--", masterLeasePrefix+ip)
		out = append(out, Action{Node: m.Node, What: "remove the master lease of " + ip + ", an apiserver that no longer runs",
			Cmd: sudo(c.Cluster, args...)})
	}
	return out
}

// restartAddons patches each add-on's pod template annotation as
// `kubectl rollout restart` does (kubectl.kubernetes.io/restartedAt).
func (c *Context) restartAddons(ctx context.Context) error {
	if len(c.conv.addons) == 0 {
		return nil
	}
	api, err := c.kubeAPI(ctx)
	if err != nil {
		return err
	}
	at := c.now().Format(time.RFC3339)
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": at}}}}})
	for _, a := range c.conv.addons {
		var err error
		switch a.Kind {
		case "DaemonSet":
			_, err = api.cs.AppsV1().DaemonSets(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		case "StatefulSet":
			_, err = api.cs.AppsV1().StatefulSets(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		default:
			_, err = api.cs.AppsV1().Deployments(a.Namespace).Patch(ctx, a.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		}
		if err != nil {
			return fmt.Errorf("restart %s: %w", a.key(), err)
		}
		c.conv.restart[a.key()] = true
		c.Progress(api.node, "restarted "+a.key())
	}
	return nil
}

func addonExists(ctx context.Context, api *kubeAPI, a addonRef) error {
	var err error
	switch a.Kind {
	case "DaemonSet":
		_, err = api.cs.AppsV1().DaemonSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	case "StatefulSet":
		_, err = api.cs.AppsV1().StatefulSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	default:
		_, err = api.cs.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	}
	return err
}

// getAddon says whether a's rollout is complete (kubectl rollout status).
func getAddon(ctx context.Context, api *kubeAPI, a addonRef) (string, error) {
	switch a.Kind {
	case "DaemonSet":
		d, err := api.cs.AppsV1().DaemonSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if d.Generation > d.Status.ObservedGeneration {
			return "", fmt.Errorf("waiting for its controller to see generation %d", d.Generation)
		}
		if d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled {
			return "", fmt.Errorf("%d of %d pods updated", d.Status.UpdatedNumberScheduled, d.Status.DesiredNumberScheduled)
		}
		if d.Status.NumberAvailable < d.Status.DesiredNumberScheduled {
			return "", fmt.Errorf("%d of %d pods available", d.Status.NumberAvailable, d.Status.DesiredNumberScheduled)
		}
		return fmt.Sprintf("%d of %d pods updated and available", d.Status.NumberAvailable, d.Status.DesiredNumberScheduled), nil
	case "StatefulSet":
		// kubectl rollout status's rules for a RollingUpdate StatefulSet.
		d, err := api.cs.AppsV1().StatefulSets(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		switch {
		case d.Generation > d.Status.ObservedGeneration:
			return "", fmt.Errorf("waiting for its controller to see generation %d", d.Generation)
		case d.Status.ReadyReplicas < want:
			return "", fmt.Errorf("%d of %d pods ready", d.Status.ReadyReplicas, want)
		case d.Status.UpdateRevision != d.Status.CurrentRevision:
			return "", fmt.Errorf("%d of %d pods updated to revision %s", d.Status.UpdatedReplicas, want, d.Status.UpdateRevision)
		}
		return fmt.Sprintf("%d pods updated and ready", want), nil
	default:
		d, err := api.cs.AppsV1().Deployments(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		switch {
		case d.Generation > d.Status.ObservedGeneration:
			return "", fmt.Errorf("waiting for its controller to see generation %d", d.Generation)
		case d.Status.UpdatedReplicas < want:
			return "", fmt.Errorf("%d of %d replicas updated", d.Status.UpdatedReplicas, want)
		case d.Status.Replicas > d.Status.UpdatedReplicas:
			return "", fmt.Errorf("%d old replicas pending termination", d.Status.Replicas-d.Status.UpdatedReplicas)
		case d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
			return "", fmt.Errorf("%d of %d updated replicas available", d.Status.AvailableReplicas, d.Status.UpdatedReplicas)
		}
		return fmt.Sprintf("%d replicas updated and available", want), nil
	}
}

// checkAddons waits for every add-on restarted by this run to be rolled out
// (kubectl rollout status's rules); absent ones are reported, not failed.
func (c *Context) checkAddons(ctx context.Context, api *kubeAPI) map[string]error {
	for _, a := range c.conv.absent {
		c.Check("", CheckAddon, true, a.key()+" not found: nothing to restart")
	}
	var todo []string
	byKey := map[string]addonRef{}
	for _, a := range c.conv.addons {
		if c.conv.restart[a.key()] {
			todo = append(todo, a.key())
			byKey[a.key()] = a
		}
	}
	var mu sync.Mutex
	out := map[string]error{}
	_ = c.parallel(ctx, 0, todo, func(ctx context.Context, k string) error {
		var detail string
		err := c.waitConverged(ctx, func(ctx context.Context) error {
			var err error
			detail, err = getAddon(ctx, api, byKey[k])
			return err
		})
		if err != nil {
			detail = err.Error()
		}
		c.Check("", CheckAddon, err == nil, k+": "+detail)
		if err != nil {
			mu.Lock()
			out[k] = err
			mu.Unlock()
		}
		return nil
	})
	return out
}

// checkAPIEndpoints: default/kubernetes (Endpoints and its EndpointSlices)
// lists exactly the running apiservers. The lease reconciler rewrites it
// every 10 s and a master lease lives 15 s (etcd TTL) unless renewed, so a
// wait within convergeDeadline covers an apiserver that just started or a
// lease that just expired; one still listed after it is stale.
func (c *Context) checkAPIEndpoints(ctx context.Context, api *kubeAPI) error {
	want := c.expectedAPIServerIPs()
	var detail string
	err := c.waitConverged(ctx, func(ctx context.Context) error {
		ep, err := api.cs.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// No apiserver writes it (--endpoint-reconciler-type=none):
			// nothing stale can be listed there. The drill lab's do write
			// it (they advertise 240.B.x.y, see nodes/lab advertiseAddr).
			detail = "no Endpoints default/kubernetes: no endpoint reconciler writes it, nothing stale listed"
			return nil
		}
		if err != nil {
			return fmt.Errorf("the Endpoints default/kubernetes: %w", err)
		}
		var got []string
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				got = append(got, a.IP)
			}
		}
		if err := sameIPs("Endpoints default/kubernetes", got, want); err != nil {
			return err
		}
		sl, err := api.cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).List(ctx,
			metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=kubernetes"})
		if err != nil {
			return fmt.Errorf("EndpointSlices of default/kubernetes: %w", err)
		}
		got = got[:0]
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				got = append(got, e.Addresses...)
			}
		}
		if err := sameIPs("EndpointSlices of default/kubernetes", got, want); err != nil {
			return err
		}
		detail = strings.Join(want, ", ")
		return nil
	})
	if err != nil {
		detail = err.Error()
	}
	c.Check("", CheckAPIEndpoints, err == nil, detail)
	return err
}

func sameIPs(what string, got, want []string) error {
	sort.Strings(got)
	got = slices.Compact(got)
	var stale, missing []string
	for _, g := range got {
		if !slices.Contains(want, g) {
			stale = append(stale, g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(stale) == 0 && len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s lists %s: stale %v, missing %v", what, strings.Join(got, ", "), stale, missing)
}
