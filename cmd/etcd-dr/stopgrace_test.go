package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// An HA apiserver that drains through its load balancer keeps serving for
// --shutdown-delay-duration after SIGTERM, and its manifest raises
// terminationGracePeriodSeconds to match. The kubelet stops it only when
// that grace is out: 130 s here, past the fixed 2 min step 1 used to wait
// (and past 2 min minus the kubelet's 20 s re-list). Step 1 sizes cp-2's
// wait from its manifest, waits the stop out, and the drill finishes with
// every invariant held.
func TestAnApiserverWithARaisedGracePeriodStillStopsCleanlyInStepOne(t *testing.T) {
	l := inProcessLab(t, 182)
	// 5 min: cp-2's old apiserver is stopped (up to its 30 s grace) and the
	// new one started, on cores loaded by other suites.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const file = "/etc/kubernetes/manifests/kube-apiserver.yaml"
	edited := time.Now()
	must(t, l.EditNodeFile(ctx, "cp-2", file, func(b []byte) ([]byte, error) {
		s := strings.Replace(string(b), "spec:\n", "spec:\n  terminationGracePeriodSeconds: 130\n", 1)
		// Serving past the grace: the kubelet's SIGKILL is what ends it.
		s = strings.Replace(s, "    - kube-apiserver\n", "    - kube-apiserver\n    - --shutdown-delay-duration=150s\n", 1)
		return []byte(s), nil
	}))
	waitPodStart(ctx, t, l.Dir(), "cp-2", "kube-apiserver", edited)
	waitReadyz(ctx, t, l, "cp-2")

	start := time.Now()
	saw, err := runEngine(t, l.ClusterFile(), 0)
	if err != nil {
		t.Fatalf("the drill failed: %v\n%s", err, tail(saw, 40))
	}
	// The gate told the operator each node's wait before step 1.
	if want := "Waits up to 1m20s (cp-1) to 3m0s (cp-2)"; !strings.Contains(saw, want) {
		t.Errorf("step 1's gate did not say %q; saw (tail):\n%s", want, tail(saw, 40))
	}
	// The stop really took the raised grace: the kubelet SIGKILLed cp-2's
	// apiserver (it would have served on for 150 s), so a fixed 2 min wait
	// would have failed this stop.
	evs, err := lab.ReadTimeline(l.Dir())
	must(t, err)
	killed := false
	for _, e := range evs {
		if e.Node == "cp-2" && e.Pod == "kube-apiserver" && e.Kind == lab.EvPodExit && e.Time.After(start) {
			killed = e.Detail == "signal: killed"
			break // the first exit after the run started is step 1's
		}
	}
	if !killed {
		t.Errorf("cp-2's kube-apiserver did not outlive its 130 s grace in step 1 (no SIGKILL in the timeline): the test proved nothing")
	}
	rep, err := lab.Verify(ctx, l.Dir())
	must(t, err)
	if !rep.OK() {
		t.Errorf("lab verify: %v %+v", rep.Failed(), rep.Checks)
	}
}

// waitReadyz waits for node's kube-apiserver to answer /readyz, which
// kubeadm's RBAC (system:public-info-viewer) lets anyone read.
func waitReadyz(ctx context.Context, t *testing.T, l *lab.Lab, node string) {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(l.Dir(), "pki", "ca.crt"))
	must(t, err)
	pool.AppendCertsFromPEM(ca)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	addr := ""
	for _, n := range l.Nodes() {
		if n.Name == node {
			addr = n.Addr
		}
	}
	for {
		if resp, err := c.Get("https://" + addr + ":6443/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kube-apiserver on %s never answered /readyz after its manifest was edited", node)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
