package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sleeperManifest is a kubeadm-shaped static pod whose container runs a
// shell that records what it sees at /data and then sleeps.
func sleeperManifest(name, hostPath, tag string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: kube-system
spec:
  containers:
  - command:
    - sh
    - -c
    - 'cat /data/marker > /tmp/%[1]s.seen 2>&1; exec sleep 1000%[3]s'
    image: sleeper
    name: %[1]s
    volumeMounts:
    - mountPath: /data
      name: data
  hostNetwork: true
  volumes:
  - hostPath:
      path: %[2]s
      type: DirectoryOrCreate
    name: data
`, name, hostPath, tag)
}

// kubeletNode starts a node with a running lab kubelet.
func kubeletNode(t *testing.T) (*node, *kubelet) {
	t.Helper()
	n := startTestNode(t, "k-1", "127.0.30.1")
	tl, err := newTimeline(filepath.Join(t.TempDir(), "timeline"))
	if err != nil {
		t.Fatal(err)
	}
	k := newKubelet(n, tl)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); k.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; tl.close() })
	return n, k
}

func mustShell(t *testing.T, n *node, line string) string {
	t.Helper()
	out, err := n.shell(context.Background(), line)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// podPID waits until the kubelet runs pod with a pid different from not.
func podPID(t *testing.T, k *kubelet, pod string, not int, within time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, p := range k.running() {
			if p.Name == pod && p.PID != not {
				return p.PID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pod %s not running (with a pid other than %d) within %s", pod, not, within)
	return 0
}

func TestLabKubeletRunsStaticPodsLikeTheRealOne(t *testing.T) {
	t.Parallel() // its own node (namespaces, sandbox); nothing listens on an address
	n, k := kubeletNode(t)
	write := func(body string) {
		t.Helper()
		mustShell(t, n, "mkdir -p /etc/kubernetes/manifests && cat > /etc/kubernetes/manifests/sleeper.yaml <<'EOF'\n"+body+"EOF")
	}
	mustShell(t, n, "mkdir -p /var/lib/old /var/lib/new && echo old > /var/lib/old/marker && echo new > /var/lib/new/marker")
	write(sleeperManifest("sleeper", "/var/lib/old", ""))
	first := podPID(t, k, "sleeper", 0, 10*time.Second)

	t.Run("the container sees its hostPath at its mountPath", func(t *testing.T) {
		waitShell(t, n, "cat /tmp/sleeper.seen", "old")
	})
	t.Run("a kubelet restart keeps an unchanged pod running", func(t *testing.T) {
		k.restart()
		time.Sleep(2 * manifestPoll)
		if got := podPID(t, k, "sleeper", -1, time.Second); got != first {
			t.Fatalf("pid changed from %d to %d across a kubelet restart", first, got)
		}
	})
	var second int
	t.Run("a changed hostPath restarts the pod on the new dir", func(t *testing.T) {
		write(sleeperManifest("sleeper", "/var/lib/new", ""))
		second = podPID(t, k, "sleeper", first, 10*time.Second)
		waitShell(t, n, "cat /tmp/sleeper.seen", "new")
		if pidAlive(first) {
			t.Fatalf("old pid %d still runs after its manifest changed", first)
		}
	})
	t.Run("a crashed pod is restarted", func(t *testing.T) {
		mustShell(t, n, "pkill -KILL -f '^sleep 1000$'")
		podPID(t, k, "sleeper", second, 10*time.Second)
	})
	t.Run("a removed manifest stops the pod within seconds", func(t *testing.T) {
		mustShell(t, n, "mv /etc/kubernetes/manifests/sleeper.yaml /var/lib/")
		waitShell(t, n, "pgrep -f '^sleep 1000' || echo gone", "gone")
	})
	t.Run("a pod whose manifest removal is ignored keeps running", func(t *testing.T) {
		k.setIgnoreRemoval("sleeper", true)
		mustShell(t, n, "mv /var/lib/sleeper.yaml /etc/kubernetes/manifests/")
		pid := podPID(t, k, "sleeper", 0, 10*time.Second)
		mustShell(t, n, "rm /etc/kubernetes/manifests/sleeper.yaml")
		time.Sleep(4 * manifestPoll)
		if !pidAlive(pid) {
			t.Fatal("the pod stopped although its removal is ignored")
		}
	})
}

func waitShell(t *testing.T, n *node, line, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := n.shell(context.Background(), line)
		if strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %q, want %q", line, out, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
