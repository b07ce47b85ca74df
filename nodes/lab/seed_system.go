package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A real cluster's keyspace holds, besides its workloads, what its
// components write on their own: each kubelet's Lease in kube-node-lease
// (renewed every 10 s), the leader Leases of kube-scheduler and
// kube-controller-manager in kube-system, and Events (1 h TTL) in default
// (the nodes') and kube-system (the static pods'). The restore's diff and
// --mark-compacted proofs must see them in the snapshot, so the seed waits
// until they are written before taking it.

// leaderLeases are the control plane's leader-election Leases: the lab runs
// the real kube-scheduler and kube-controller-manager with --leader-elect.
var leaderLeases = []string{"kube-scheduler", "kube-controller-manager"}

// seedSystem waits for the leases and, where the lab's own kubelet stands
// in for the real one (it records no events), writes the Events a v1.35
// kubelet records when it starts a node and its static pods.
func (l *Lab) seedSystem(ctx context.Context, a *apiAdmin) error {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // cold components on loaded cores
	defer cancel()
	for _, name := range leaderLeases {
		err := a.waitFor(wctx, func(ctx context.Context) error {
			_, err := a.cs.CoordinationV1().Leases("kube-system").Get(ctx, name, metav1.GetOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("lab seed: %s never took its leader Lease kube-system/%s: %w", name, name, err)
		}
	}
	for _, s := range l.kubeNodes() {
		err := a.waitFor(wctx, func(ctx context.Context) error {
			_, err := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, s.Name, metav1.GetOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("lab seed: the kubelet on %s never created its Lease kube-node-lease/%s: %w", s.Name, s.Name, err)
		}
	}
	if l.real != nil { // real kubelets record their own events
		return nil
	}
	evs, err := l.kubeletEvents(time.Now())
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := a.create(ctx, "lab seed", object{"/api/v1/namespaces/" + e.Namespace + "/events/" + e.Name, e}); err != nil {
			return err
		}
	}
	return nil
}

// kubeNodes are the nodes that run a registering kubelet (control-plane
// and workers; an external etcd host's kubelet runs standalone).
func (l *Lab) kubeNodes() []nodeSpec {
	var out []nodeSpec
	for _, name := range l.order {
		s := l.nodes[name].spec
		if slices.Contains(s.Roles, "control-plane") || slices.Contains(s.Roles, "worker") {
			out = append(out, s)
		}
	}
	return out
}

// kubeletEvents are what pkg/kubelet v1.35.4 records through client-go's
// legacy recorder when it starts: on its Node (namespace default, as the
// recorder puts a cluster-scoped object's events) "Starting", the node
// condition changes and "NodeAllocatableEnforced"; on each static pod's
// containers "Pulled", "Created", "Started" (kube-system). Named as the
// recorder names them, <object>.<hex unix nanos>.
func (l *Lab) kubeletEvents(now time.Time) ([]*corev1.Event, error) {
	var out []*corev1.Event
	t := now
	add := func(node string, ref corev1.ObjectReference, reason, msg string) {
		t = t.Add(time.Millisecond)
		ns := ref.Namespace
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		mt := metav1.NewTime(t)
		out = append(out, &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, t.UnixNano()), Namespace: ns},
			InvolvedObject: ref, Reason: reason, Message: msg, Type: corev1.EventTypeNormal,
			Source:         corev1.EventSource{Component: "kubelet", Host: node},
			FirstTimestamp: mt, LastTimestamp: mt, Count: 1,
			ReportingController: "kubelet", ReportingInstance: node})
	}
	for _, s := range l.kubeNodes() {
		ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Node", Name: s.Name}
		add(s.Name, ref, "Starting", "Starting kubelet.")
		add(s.Name, ref, "NodeAllocatableEnforced", "Updated Node Allocatable limit across pods")
		for _, c := range []string{"NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"} {
			add(s.Name, ref, c, fmt.Sprintf("Node %s status is now: %s", s.Name, c))
		}
		pods, err := l.staticPods(s)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				ref := corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name,
					UID: types.UID(p.Annotations["kubernetes.io/config.hash"]), FieldPath: "spec.containers{" + c.Name + "}"}
				add(s.Name, ref, "Pulled", fmt.Sprintf("Container image %q already present on machine", c.Image))
				add(s.Name, ref, "Created", "Container created")
				add(s.Name, ref, "Started", "Container started")
			}
		}
	}
	return out, nil
}
