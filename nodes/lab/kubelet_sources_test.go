package lab

import (
	"strings"
	"testing"
	"time"
)

// The real kubelet's "sources ready" lives in its process: restarted while
// no apiserver answers, it does not stop a pod whose manifest is parked
// until its apiserver source has listed this node's pods. The lab kubelet
// used to keep "ready" across a restart.
func TestLabKubeletRestartedWithoutAnApiserverStopsAParkedPodOnlyOnceTheApiserverAnswers(t *testing.T) {
	l := upLabWith(t, Options{ControlPlanes: 1, Workers: 0, Block: 231, SkipSeed: true})
	const cp = "cp-1"
	mustSSH(t, l, cp, "sudo -n -- sh -c 'mkdir -p /etc/kubernetes/parked && mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/parked/'")
	// 60 s: kube-apiserver may outlive the kubelet's 30 s grace and be killed.
	waitSSH(t, l, cp, "pgrep -f '^kube-apiserver( |$)' || echo gone", "gone", 60*time.Second)
	mustSSH(t, l, cp, "sudo -n -- systemctl restart kubelet")
	sched := strings.TrimSpace(mustSSH(t, l, cp, "pgrep -f '^kube-scheduler( |$)'"))
	if sched == "" {
		t.Fatal("no kube-scheduler running before the park")
	}
	mustSSH(t, l, cp, "sudo -n -- mv /etc/kubernetes/manifests/kube-scheduler.yaml /etc/kubernetes/parked/")
	// A negative check needs a window: three housekeeping passes (2 s each)
	// and many manifest polls, by which a ready kubelet has sent SIGTERM.
	time.Sleep(3*housekeeping + time.Second)
	if got := strings.TrimSpace(mustSSH(t, l, cp, "pgrep -f '^kube-scheduler( |$)' || echo gone")); got != sched {
		t.Fatalf("kube-scheduler is %q, want it still running as %s: a kubelet restarted without an apiserver deleted a pod", got, sched)
	}
	// Adds are not gated: the apiserver comes back, the kubelet's apiserver
	// source lists its pods, and only then is the parked scheduler stopped.
	mustSSH(t, l, cp, "sudo -n -- mv /etc/kubernetes/parked/kube-apiserver.yaml /etc/kubernetes/manifests/")
	// 3 min: an apiserver starting on loaded cores, then the scheduler's grace.
	waitSSH(t, l, cp, "pgrep -f '^kube-scheduler( |$)' || echo gone", "gone", 3*time.Minute)
}
