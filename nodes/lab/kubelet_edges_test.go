package lab

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// stubbornManifest is a static pod whose process ignores SIGTERM (an
// ignored disposition survives exec), so only the kubelet's SIGKILL after
// the grace period ends it. grace "" leaves terminationGracePeriodSeconds
// unset, as kubeadm's manifests do.
func stubbornManifest(name, grace string) string {
	spec := ""
	if grace != "" {
		spec = "  terminationGracePeriodSeconds: " + grace + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  namespace: kube-system
spec:
%[2]s  containers:
  - command:
    - sh
    - -c
    - trap '' TERM; exec sleep 1001
    image: stubborn
    name: %[1]s
  hostNetwork: true
`, name, spec)
}

func TestLabKubeletGracePeriodIsTheManifestsOr30Seconds(t *testing.T) {
	tests := []struct {
		name, grace string
		want        time.Duration
	}{
		{"a manifest without terminationGracePeriodSeconds gets 30 s", "", 30 * time.Second},
		{"a manifest's own grace period is used", "3", 3 * time.Second},
		{"a zero grace period still gets the kubelet's 2 s floor", "0", 2 * time.Second},
		{"a negative one as well", "-1", 2 * time.Second},
		{"a grace period raised past 2 min is kept", "130", 130 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := podFrom("x.yaml", []byte(stubbornManifest("x", tt.grace)))
			if err != nil {
				t.Fatal(err)
			}
			if p.grace != tt.want {
				t.Fatalf("grace %s, want %s", p.grace, tt.want)
			}
		})
	}
}

func TestLabKubeletStopsAPodThatIgnoresSIGTERMOnlyAfterItsGracePeriod(t *testing.T) {
	t.Parallel() // its own node (namespaces, sandbox); nothing listens on an address
	n, k := kubeletNode(t)
	mustShell(t, n, "mkdir -p /etc/kubernetes/manifests && cat > /etc/kubernetes/manifests/stubborn.yaml <<'EOF'\n"+
		stubbornManifest("stubborn", "8")+"EOF")
	pid := podPID(t, k, "stubborn", 0, 10*time.Second)
	parked := time.Now()
	mustShell(t, n, "mv /etc/kubernetes/manifests/stubborn.yaml /tmp/")
	// Within the 8 s grace the SIGTERM-ignoring process must still run: the
	// old lab killed at 5 s whatever the manifest said; 6 s is past that
	// and leaves 2 s for the poll on a slow CI machine.
	time.Sleep(6 * time.Second)
	if !pidAlive(pid) {
		t.Fatalf("pid %d ended %s after its manifest was parked, within its 8 s grace period", pid, time.Since(parked))
	}
	deadline := parked.Add(25 * time.Second) // 8 s grace plus a loaded CI machine's slack
	for pidAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs %s after its manifest was parked; grace is 8 s", pid, time.Since(parked))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLabKubeletTreatsEveryNonDotFileAsAPodKeyedByName(t *testing.T) {
	t.Parallel() // its own node (namespaces, sandbox); nothing listens on an address
	n, k := kubeletNode(t)
	mustShell(t, n, "mkdir -p /etc/kubernetes/manifests /var/lib/d && echo d > /var/lib/d/marker")
	write := func(file string) {
		t.Helper()
		mustShell(t, n, "cat > /etc/kubernetes/manifests/"+file+" <<'EOF'\n"+sleeperManifest("sleeper", "/var/lib/d", "")+"EOF")
	}
	write("sleeper.yaml")
	first := podPID(t, k, "sleeper", 0, 10*time.Second)

	// The real file source keys its pods by namespace/name: the file
	// stored last wins, and the path is part of the UID, so the running
	// pod is replaced by the stray copy's.
	t.Run("a second file declaring the pod replaces the running one", func(t *testing.T) {
		write("sleeper.yaml.bak") // what `cp sleeper.yaml sleeper.yaml.bak` leaves in the dir
		podPID(t, k, "sleeper", first, 10*time.Second)
		if pidAlive(first) {
			t.Fatalf("the first file's pid %d still runs beside the copy's", first)
		}
		time.Sleep(4 * manifestPoll)
		out := mustShell(t, n, "pgrep -f '^sleep 1000$' | wc -l")
		if strings.TrimSpace(out) != "1" {
			t.Fatalf("%s sleep processes run; want 1", strings.TrimSpace(out))
		}
	})
	t.Run("parking the first file leaves the copy's pod running", func(t *testing.T) {
		copied := podPID(t, k, "sleeper", first, 10*time.Second)
		mustShell(t, n, "mv /etc/kubernetes/manifests/sleeper.yaml /tmp/")
		time.Sleep(4 * manifestPoll)
		if !pidAlive(copied) {
			t.Fatalf("the copy's pod (pid %d) stopped when the first file was parked", copied)
		}
	})
	t.Run("a dot file is not a pod", func(t *testing.T) {
		mustShell(t, n, "mv /etc/kubernetes/manifests/sleeper.yaml.bak /etc/kubernetes/manifests/.sleeper.yaml.bak")
		waitShell(t, n, "pgrep -f '^sleep 1000$' || echo gone", "gone")
	})
}

func TestLabKubeletWhoseSourcesNeverSyncedKeepsARemovedPodRunning(t *testing.T) {
	t.Parallel() // its own node (namespaces, sandbox); nothing listens on an address
	n, k := kubeletNode(t)
	mustShell(t, n, "mkdir -p /etc/kubernetes/manifests /var/lib/d && cat > /etc/kubernetes/manifests/sleeper.yaml <<'EOF'\n"+
		sleeperManifest("sleeper", "/var/lib/d", "")+"EOF")
	pid := podPID(t, k, "sleeper", 0, 10*time.Second)
	k.setSourcesNotReady(true)
	mustShell(t, n, "mv /etc/kubernetes/manifests/sleeper.yaml /tmp/")
	time.Sleep(3 * time.Second) // several polls: a delete would have been sent by now
	if !pidAlive(pid) {
		t.Fatal("the pod stopped although the kubelet's sources never synced")
	}
	k.setSourcesNotReady(false)
	waitShell(t, n, "pgrep -f '^sleep 1000$' || echo gone", "gone")
}

func TestLabKubeletCrashBackoffGrowsFrom10SecondsTo5Minutes(t *testing.T) {
	k := &kubelet{backoff: map[string]*backoff{}}
	want := []time.Duration{plegRelist, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := k.crashDelay("uid-a"); got != w {
			t.Fatalf("crash %d: delay %s, want %s", i+1, got, w)
		}
	}
	if got := k.crashDelay("uid-b"); got != plegRelist {
		t.Fatalf("another UID's first crash: delay %s, want %s (backoff is per UID)", got, plegRelist)
	}
}

// A static pod in crash backoff (kube-controller-manager while no apiserver
// answered) starts again as soon as the kubelet restarts: the backoff lives
// in the old process's memory only, and the new one starts an exited
// container on its first sync. Before, the lab waited out the old backoff
// (up to 5 min) and step 5's wait for a new controller-manager ran long.
func TestLabKubeletRestartEndsACrashBackoff(t *testing.T) {
	t.Parallel() // its own node (namespaces, sandbox); nothing listens on an address
	n, k := kubeletNode(t)
	mustShell(t, n, "rm -f /tmp/ok; mkdir -p /etc/kubernetes/manifests && cat > /etc/kubernetes/manifests/crasher.yaml <<'EOF'\n"+
		strings.Replace(stubbornManifest("crasher", ""), "trap '' TERM; exec sleep 1001", "if [ -e /tmp/ok ]; then exec sleep 1001; fi; exit 1", 1)+"EOF")
	lastCrash := func() (time.Time, int) {
		k.bmu.Lock()
		defer k.bmu.Unlock()
		var last time.Time
		for _, b := range k.backoff {
			last = b.last
		}
		return last, len(k.backoff)
	}
	deadline := time.Now().Add(60 * time.Second) // first crash: a sync plus a loaded machine's slack
	for _, n := lastCrash(); n == 0; _, n = lastCrash() {
		if time.Now().After(deadline) {
			t.Fatal("the crashing pod never crashed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Its next crash waits 5 min, as after a long apiserver outage.
	k.bmu.Lock()
	for _, b := range k.backoff {
		b.next = backoffMax
	}
	k.bmu.Unlock()
	first, _ := lastCrash()
	for last, _ := lastCrash(); !last.After(first); last, _ = lastCrash() {
		if time.Now().After(deadline) {
			t.Fatal("the crashing pod did not crash a second time")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // the supervisor is now waiting out the 5 min
	mustShell(t, n, "touch /tmp/ok")
	k.restart()
	// 60 s: far below the 5 min backoff the old process had, generous for a loaded machine.
	podPID(t, k, "crasher", 0, 60*time.Second)
	if out := mustShell(t, n, "pgrep -f '^sleep 1001$' | wc -l"); strings.TrimSpace(out) != "1" {
		t.Fatalf("%s crasher processes run after the restart; want 1", strings.TrimSpace(out))
	}
}
