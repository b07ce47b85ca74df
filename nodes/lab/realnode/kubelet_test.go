package realnode_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// TestRealKubeletRunsControlPlane: on one node, kubeadm v1.35.4 writes the
// files, the real kubelet v1.35.4 runs its static pods through the node's
// containerd, and the control plane comes up: the CRI API lists etcd,
// kube-apiserver, kube-scheduler and kube-controller-manager running, and
// the apiserver (which checks etcd) answers /readyz on the node's address
// to the bastion, verified against the CA kubeadm made.
func TestRealKubeletRunsControlPlane(t *testing.T) {
	rb := realBins(t)
	// Image builds, imports and a cold control plane on a loaded 2-core
	// machine: minutes; the deadline only bounds a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	pause, err := EnsurePause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	imgDir := t.TempDir()
	archives := map[string]string{}
	for _, spec := range ControlPlaneImages(rb.Etcd, rb.Etcdctl, rb.Etcdutl, rb.KubeApiserver, rb.KubeControllerManager, rb.KubeScheduler, pause) {
		a := filepath.Join(imgDir, ArchiveName(spec.Name))
		if err := BuildArchive(spec, a); err != nil {
			t.Fatal(err)
		}
		archives[spec.Name] = a
	}
	n, dir := newTestNet(t, 12)
	cp1, err := n.AddNode(ctx, dir, "cp-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cp1.StartContainerd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if err := cp1.ImportImages(ctx, archives); err != nil {
		t.Fatal(err)
	}
	ip := cp1.Addr.String()
	if err := cp1.KubeadmInit(ctx, rb.Kubeadm, ip+":6443", nil); err != nil {
		t.Fatal(err)
	}
	k, err := cp1.StartKubelet(rb.Kubelet)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Stop()
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(k.Log)
			t.Logf("kubelet log tail:\n%s", tailLines(string(b), 40))
		}
	}()

	caPEM, err := cp1.ReadFile(ctx, "/etc/kubernetes/pki/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	want := []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"}
	var last []Container
	var ready string
	for {
		if starts, err := k.Starts(); starts > 1 {
			t.Fatalf("the kubelet exited (%v) and was restarted; it must run once", err)
		}
		last, err = c.Containers(ctx)
		if err == nil {
			run := Running(last)
			all := true
			for _, w := range want {
				all = all && run[w]
			}
			if all {
				if resp, err := client.Get("https://" + ip + ":6443/readyz"); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					ready = string(b)
					if resp.StatusCode == 200 {
						break
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("control plane not up: containers %+v, readyz %q", last, ready)
		case <-time.After(2 * time.Second):
		}
	}
	for _, ct := range last {
		t.Logf("%-24s %-32s %s attempt %d", ct.Name, ct.Pod, ct.State, ct.Attempt)
		if !strings.HasSuffix(ct.Pod, "-cp-1") {
			t.Errorf("container %s in pod %q: static pods are named <name>-<node>", ct.Name, ct.Pod)
		}
	}

	// The engine's steps 1 and 4 on real node software: a manifest moved
	// out of the manifests dir is a pod deleted (the real kubelet stops the
	// apiserver container), moved back it is a pod created again, and the
	// apiserver serves once more.
	apiserverRunning := func() bool {
		cs, err := c.Containers(ctx)
		return err == nil && Running(cs)["kube-apiserver"]
	}
	for _, step := range []struct {
		name, from, to string
		running        bool
	}{
		{"manifest moved out", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/kube-apiserver.yaml", false},
		{"manifest moved back", "/etc/kubernetes/kube-apiserver.yaml", "/etc/kubernetes/manifests/kube-apiserver.yaml", true},
	} {
		t0 := time.Now()
		if _, err := cp1.Run(ctx, "mv", step.from, step.to); err != nil {
			t.Fatal(err)
		}
		if !Wait(ctx, time.Second, func() bool { return apiserverRunning() == step.running }) {
			t.Fatalf("%s: kube-apiserver running = %v, want %v", step.name, !step.running, step.running)
		}
		t.Logf("%s: kube-apiserver running=%v after %s", step.name, step.running, time.Since(t0).Round(time.Second))
	}
	if err := cp1.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}

	// `systemctl restart kubelet` keeps the running containers: the same
	// container IDs run once the new kubelet has started its sync loop
	// (logged once per start; the per-pod SyncLoop lines need -v=2, which
	// kubeadm does not set) and the apiserver answers again.
	before, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	syncs := func() int {
		b, _ := os.ReadFile(k.Log)
		return strings.Count(string(b), `"Starting kubelet main sync loop"`)
	}
	if syncs() != 1 {
		t.Fatalf("kubelet log has %d sync loop starts before the restart, want 1", syncs())
	}
	// systemd's stop of kubeadm's unit: SIGTERM, and the real kubelet ends
	// on it (SIGKILL would come only after StopTimeout).
	if r := k.Restart(); r.Killed || r.Took >= StopTimeout {
		t.Errorf("restart's stop: %+v; want the kubelet ended by SIGTERM", r)
	} else {
		t.Logf("the kubelet ended %s after SIGTERM", r.Took)
	}
	if !Wait(ctx, time.Second, func() bool { n, _ := k.Starts(); return n == 2 && syncs() == 2 }) {
		t.Fatal("the kubelet did not start again and start its sync loop")
	}
	if err := cp1.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	running := func(cs []Container) map[string]string {
		m := map[string]string{}
		for _, ct := range cs {
			if Running([]Container{ct})[ct.Name] {
				m[ct.Name] = ct.ID
			}
		}
		return m
	}
	b, a := running(before), running(after)
	for name, id := range b {
		if a[name] != id {
			t.Errorf("%s: container %s before the kubelet restart, %q after", name, id, a[name])
		}
	}
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
