package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/component-helpers/apimachinery/lease"
	"k8s.io/utils/clock"
)

// The kubelet's API side, as pkg/kubelet v1.35.4 sets it up: a Lease in
// kube-node-lease renewed by component-helpers' lease controller (the very
// library the kubelet runs) every 10 s, a quarter of its 40 s duration
// (nodeLeaseRenewIntervalFraction), and a Node registered and its status
// posted, retried with backoff up to 7 s while no apiserver answers.
const (
	nodeLeaseDurationSeconds  = 40
	nodeLeaseRenewInterval    = nodeLeaseDurationSeconds * time.Second / 4
	nodeStatusReportFrequency = 5 * time.Minute // kubelet's default: a status unchanged is posted this often
	registerBackoffMax        = 7 * time.Second
)

// kubeletAPI is where and as whom a node's kubelet talks to the cluster.
type kubeletAPI struct {
	// registers is false on an external etcd host: its kubelet runs
	// standalone (kubeadm's external etcd guide), registered nowhere.
	registers bool
	server    string
	// caFile is the cluster CA the kubelet trusts, read at every start as
	// the real kubelet reads kubelet.conf: a CA rotation (fault ca-replaced)
	// rewrites it and restarts the kubelet.
	caFile string
	token  string
}

// kubeletAPI is the lab counterpart of a node's kubelet.conf: a control-plane
// node's kubelet talks to its own apiserver, a worker's to the first
// control-plane node's (kubeadm join's endpoint without a load balancer),
// as system:node:NAME.
func (l *Lab) kubeletAPI(s nodeSpec) (*kubeletAPI, error) {
	addr := s.Addr
	if !slices.Contains(s.Roles, "control-plane") {
		for _, o := range l.opts.specs() {
			if slices.Contains(o.Roles, "control-plane") {
				addr = o.Addr
				break
			}
		}
	}
	caFile := filepath.Join(l.opts.Dir, "pki", "ca.crt")
	if _, err := os.Stat(caFile); err != nil {
		return nil, fmt.Errorf("lab kubelet %s: cluster CA: %w", s.Name, err)
	}
	registers := slices.Contains(s.Roles, "control-plane") || slices.Contains(s.Roles, "worker")
	return &kubeletAPI{registers: registers, server: "https://" + addr + ":6443", caFile: caFile, token: l.state.Tokens.Kubelets[s.Name]}, nil
}

// startAPI starts this kubelet invocation's API side (Node, status, Lease),
// ending the previous invocation's: it is called when the kubelet starts and
// at every `systemctl restart kubelet`. A kubelet set to stay down
// (KubeletDown) ends its old invocation's and starts none, as a kubelet that
// crash-loops after a restart: its static pods keep running (containerd
// holds them), its Lease is no longer renewed.
func (k *kubelet) startAPI(restart bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.apiStop != nil {
		k.apiStop()
		k.apiStop = nil
	}
	k.apiSourceSeen.Store(false) // a new kubelet process has seen no source yet (the old one has ended)
	if k.api == nil || k.runCtx == nil || k.api.token == "" || !k.api.registers {
		return
	}
	if restart && k.downAfterRestart {
		k.stayedDown = true
		k.tl.add(Event{Node: k.n.spec.Name, Kind: EvKubeletRestart, Detail: "kubelet did not come back (fault kubelet-down)"})
		return
	}
	if k.stayedDown {
		return
	}
	ctx, cancel := context.WithCancel(k.runCtx)
	done := make(chan struct{})
	k.apiStop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		k.runAPI(ctx)
	}()
}

// heldDown reports whether the kubelet stayed down after a restart (fault
// kubelet-down): systemd then reports it crash-looping, not active.
func (k *kubelet) heldDown() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stayedDown
}

// stopAPI ends the running invocation's API side (the lab going down).
func (k *kubelet) stopAPI() {
	k.mu.Lock()
	stop := k.apiStop
	k.apiStop = nil
	k.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// KubeletDown is the fault kubelet-down@NODE: from now on, node's kubelet
// does not come back from its next restart (step 5's `systemctl restart
// kubelet` succeeds, as systemd's does for a Type=simple unit, and the
// kubelet then never runs again), so its Lease is no longer renewed and
// the verify step must name the node. Its static pods keep running.
func (l *Lab) KubeletDown(name string) error {
	if l.real != nil {
		return l.realKubeletDown(name) // realtier.go
	}
	n, err := l.node(name)
	if err != nil {
		return err
	}
	n.kubelet.mu.Lock()
	n.kubelet.downAfterRestart = true
	n.kubelet.mu.Unlock()
	return nil
}

func (k *kubelet) runAPI(ctx context.Context) {
	ca, err := os.ReadFile(k.api.caFile)
	if err != nil {
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "kubelet-api-error", Detail: err.Error()})
		return
	}
	cfg := &rest.Config{Host: k.api.server, BearerToken: k.api.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}, Timeout: 10 * time.Second,
		UserAgent: "kubelet/v1.35.4 (lab) " + k.n.spec.Name, WarningHandler: rest.NoWarnings{}}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "kubelet-api-error", Detail: err.Error()})
		return
	}
	// An ended invocation leaves no connection (nor its goroutines) behind.
	defer hc.CloseIdleConnections()
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "kubelet-api-error", Detail: err.Error()})
		return
	}
	name := k.n.spec.Name
	// The lease controller creates the Lease if missing and renews it;
	// SetNodeOwnerFunc's counterpart makes the Node its owner once known.
	ctl := lease.NewController(clock.RealClock{}, cs, name, nodeLeaseDurationSeconds, nil, nodeLeaseRenewInterval,
		name, corev1.NamespaceNodeLease, setNodeOwner(ctx, cs, name))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { ctl.Run(ctx) })
	wg.Go(func() { k.syncAPISource(ctx, cs) })
	k.registerAndPostStatus(ctx, cs)
}

// setNodeOwner is pkg/kubelet/util.SetNodeOwnerFunc: the Lease is owned by
// the Node, set at each renewal until it succeeds.
func setNodeOwner(ctx context.Context, cs kubernetes.Interface, node string) func(*coordinationv1.Lease) error {
	return func(l *coordinationv1.Lease) error {
		if len(l.OwnerReferences) > 0 {
			return nil
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: n.UID}}
		return nil
	}
}

// registerAndPostStatus registers the Node (kubelet_node_status.go
// registerWithAPIServer: create, or accept the existing one) and posts a
// Ready status, then again every nodeStatusReportFrequency, until ctx ends.
func (k *kubelet) registerAndPostStatus(ctx context.Context, cs kubernetes.Interface) {
	step := 100 * time.Millisecond
	for ctx.Err() == nil {
		if err := k.register(ctx, cs); err == nil {
			if err = k.postStatus(ctx, cs); err == nil {
				break
			}
		}
		sleep(ctx, step)
		step = min(2*step, registerBackoffMax)
	}
	t := time.NewTicker(nodeStatusReportFrequency)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = k.postStatus(ctx, cs) // the real kubelet retries at its next tick too
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (k *kubelet) register(ctx context.Context, cs kubernetes.Interface) error {
	s := k.n.spec
	labels := map[string]string{"kubernetes.io/hostname": s.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels}}
	_, err := cs.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

func (k *kubelet) postStatus(ctx context.Context, cs kubernetes.Interface) error {
	now := metav1.Now()
	status := map[string]any{"status": map[string]any{
		"conditions": []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			Reason: "KubeletReady", Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		"addresses": []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: k.n.spec.Addr},
			{Type: corev1.NodeHostName, Address: k.n.spec.Name}},
		"nodeInfo": corev1.NodeSystemInfo{KubeletVersion: "v1.35.4", OperatingSystem: "linux", Architecture: "amd64"},
	}}
	b, err := json.Marshal(status)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Nodes().PatchStatus(ctx, k.n.spec.Name, b)
	return err
}
