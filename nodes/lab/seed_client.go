package lab

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiAdmin is the bastion's admin client of one kube-apiserver, as
// admin.conf describes it: the lab's cluster CA, the admin token and, on
// the real tier (no token file), admin.crt's client certificate.
type apiAdmin struct {
	cs   kubernetes.Interface
	node string // the control-plane node whose apiserver it talks to
	addr string
	hc   interface{ CloseIdleConnections() }
}

// adminClient talks to the first control-plane node's kube-apiserver with
// client-go, the kept library for it. Each request times out after 10 s,
// as the hand-written client did; no client-side rate limit (QPS < 0), so
// seeding takes the time the apiserver takes.
func (l *Lab) adminClient() (*apiAdmin, error) {
	node := l.nodeNames("cp-")[0]
	addr := l.nodes[node].spec.Addr
	pki := filepath.Join(l.opts.Dir, "pki")
	ca, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("lab: cluster CA: %w", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return nil, errors.New("lab: cluster CA: no certificate in " + filepath.Join(pki, "ca.crt"))
	}
	cfg := &rest.Config{Host: "https://" + addr + ":6443", BearerToken: l.state.Tokens.Admin,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca}, Timeout: 10 * time.Second, QPS: -1,
		UserAgent: "etcd-dr-lab", WarningHandler: rest.NoWarnings{}}
	crt, key := filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key")
	if fileExists(crt) && fileExists(key) { // the real tier's admin.conf client
		cfg.CertFile, cfg.KeyFile = crt, key
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("lab: client of kube-apiserver on %s (%s): %w", node, addr, err)
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("lab: client of kube-apiserver on %s (%s): %w", node, addr, err)
	}
	return &apiAdmin{cs: cs, node: node, addr: addr, hc: hc}, nil
}

func (a *apiAdmin) close() { a.hc.CloseIdleConnections() }

func (a *apiAdmin) where() string {
	return fmt.Sprintf("kube-apiserver on %s (%s:6443)", a.node, a.addr)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// object is one API object the lab creates: its API path (what Verify GETs)
// and the typed object.
type object struct {
	path string
	obj  runtime.Object
}

// create creates o once; an object already there (a rerun, or the kubelet's
// own Node) is no error, as 409 was not for the hand-written POST.
func (a *apiAdmin) create(ctx context.Context, what string, o object) error {
	var err error
	c := a.cs.CoreV1()
	opts := metav1.CreateOptions{}
	switch v := o.obj.(type) {
	case *corev1.Namespace:
		_, err = c.Namespaces().Create(ctx, v, opts)
	case *corev1.ConfigMap:
		_, err = c.ConfigMaps(v.Namespace).Create(ctx, v, opts)
	case *corev1.Secret:
		_, err = c.Secrets(v.Namespace).Create(ctx, v, opts)
	case *corev1.Node:
		_, err = c.Nodes().Create(ctx, v, opts)
	case *corev1.Pod:
		_, err = c.Pods(v.Namespace).Create(ctx, v, opts)
	case *corev1.Event:
		_, err = c.Events(v.Namespace).Create(ctx, v, opts)
	case *appsv1.Deployment:
		_, err = a.cs.AppsV1().Deployments(v.Namespace).Create(ctx, v, opts)
	default:
		return fmt.Errorf("%s: create %s: no client for %T", what, o.path, o.obj)
	}
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("%s: create %s via %s: %w", what, o.path, a.where(), err)
	}
	return nil
}

// waitFor polls get every 300 ms until it finds the object or ctx ends,
// as waitHTTP did; the error names the apiserver and the last answer.
func (a *apiAdmin) waitFor(ctx context.Context, get func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextCancel(ctx, 300*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = get(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last answer of %s: %v)", err, a.where(), last)
	}
	return nil
}
