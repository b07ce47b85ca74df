package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The default tier's kubelet-edge cases (faults_test.go cases 12 and 13),
// made for real on a kubeadm-made node under the real kubelet v1.35.4
// (slot 13, one control plane: the smallest shape each case needs):
//   - a stray `cp etcd.yaml etcd.yaml.bak` in the manifests dir, a real file
//     the real kubelet reads; preflight refuses it before step 1.
//   - a kubelet whose API source never synced: kubelet.conf points at an
//     apiserver that does not answer and the real kubelet is restarted; it
//     skips the parked apiserver's delete and step 1 names the cause.
func TestRealTierStrayManifestAndSourcesNotReadyAsOnTheDefaultTier(t *testing.T) {
	realSlotLock(t, 13)
	// A real-tier lab up on a loaded 2-core machine takes minutes; this
	// only bounds a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Kubelet: lab.KubeletReal, Block: 13,
		ControlPlanes: 1, Workers: 0, Progress: func(s string) { t.Log(s) }})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	addr := realNodeAddr(t, l.Dir(), "cp-1")
	const bak = "/etc/kubernetes/manifests/etcd.yaml.bak"

	t.Run("a stray etcd.yaml.bak is refused in preflight before anything changes", func(t *testing.T) {
		copied := time.Now()
		if out, err := realSSH(t, l.Dir(), addr, "sudo -n -- cp -p /etc/kubernetes/manifests/etcd.yaml "+bak); err != nil {
			t.Fatalf("cp etcd.yaml etcd.yaml.bak on cp-1: %v: %s", err, out)
		}
		start := time.Now()
		saw, err := runEngine(t, l.ClusterFile(), 0)
		requireRefusedInPreflight(t, l, saw, err, start, "cp-1", bak, "cp etcd.yaml etcd.yaml.bak")
		// What the real kubelet did with the second file naming pod etcd
		// (its file source keys pods by namespace/name: the later file
		// replaces the earlier one's pod, whose UID hashes the path).
		logPodEvents(t, l.Dir(), "cp-1", "etcd", copied)
		if out, err := realSSH(t, l.Dir(), addr, "sudo -n -- rm -f -- "+bak); err != nil {
			t.Fatalf("rm etcd.yaml.bak on cp-1: %v: %s", err, out)
		}
		removed := time.Now()
		// Removing it is a delete of the pod the .bak keyed: etcd may stop
		// until the kubelet's next 20 s re-list brings etcd.yaml's back.
		must(t, l.WaitEtcdHealthy(ctx))
		waitReadyz(ctx, t, l, "cp-1")
		logPodEvents(t, l.Dir(), "cp-1", "etcd", removed)
	})

	t.Run("a kubelet whose API source never synced keeps the parked apiserver and step 1 says why", func(t *testing.T) {
		must(t, l.KubeletSourcesNotReady("cp-1", true))
		start := time.Now()
		// 60 s: the real kubelet never stops the pod; the test is about
		// the message at the deadline, not the deadline's length.
		saw, err := runEngine(t, l.ClusterFile(), 60*time.Second)
		if err == nil {
			t.Fatalf("the run passed with cp-1's kubelet skipping deletes:\n%s", tail(saw, 60))
		}
		all := saw + "\n" + err.Error()
		for _, w := range []string{"cp-1", "kube-apiserver still runs", "sources aren't ready", "crictl stop"} {
			if !strings.Contains(all, w) {
				t.Errorf("the operator was not told %q:\n%s", w, tail(all, 60))
			}
		}
		for _, line := range strings.Split(all, "\n") {
			if node, ok := nodeLine(line, string(steps.RestoreEtcd), "running"); ok {
				t.Errorf("restore-etcd started on %s with its apiserver still running", node)
			}
		}
		// Since start: the stray case above restarted etcd itself (the real
		// kubelet swapped its pod), so its data dir moved on after that stop.
		rep, err := lab.VerifySince(ctx, l.Dir(), start)
		must(t, err)
		for _, c := range rep.Checks {
			if (c.Name == lab.CheckNoRestoreWhileApiserver || c.Name == lab.CheckOldDataIntact) && !c.OK {
				t.Errorf("invariant %s broken: %s", c.Name, c.Detail)
			}
		}
		// The fault is real: the runtime still runs kube-apiserver, whose
		// manifest is parked, and the kubelet never reached an apiserver.
		if out, err := realSSH(t, l.Dir(), addr, "sudo -n -- crictl ps -q --name '^kube-apiserver$'"); err != nil || strings.TrimSpace(out) == "" {
			t.Errorf("crictl ps on cp-1 shows no kube-apiserver (%v): the kubelet did stop it", err)
		}
		if out, _ := realSSH(t, l.Dir(), addr, "ls /etc/kubernetes/manifests"); strings.Contains(out, "kube-apiserver.yaml") {
			t.Errorf("kube-apiserver.yaml still in cp-1's manifests dir: step 1 never parked it:\n%s", out)
		}
		b, err := os.ReadFile(filepath.Join(l.Dir(), "nodes", "cp-1", "kubelet.log"))
		if err == nil && !strings.Contains(string(b), ":6444") {
			t.Errorf("cp-1's kubelet.log never names the dead apiserver port 6444")
		}
	})
}

// logPodEvents logs pod's starts and exits on node since t0, from the
// CRI events the real tier writes to the lab's timeline.
func logPodEvents(t *testing.T, dir, node, pod string, t0 time.Time) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	must(t, err)
	for _, e := range evs {
		if e.Node == node && e.Pod == pod && !e.Time.Before(t0) && (e.Kind == lab.EvPodStart || e.Kind == lab.EvPodExit) {
			t.Logf("%s %s %s %s pid %d %s", e.Time.Format("15:04:05.000"), node, e.Kind, pod, e.PID, e.Detail)
		}
	}
}
