package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// The real-kubelet tier uses slot 10 of 198.51.100.0/24 here (nodes/lab/
// realnode's tests use 11-15); its addresses never touch a 127.B block.
const realSlot = "10"

// The whole procedure, headless, on kubeadm-made nodes: 3 stacked control
// planes and a worker, each under the real kubelet v1.35.4 and its own
// containerd, etcd 3.6.6 in kubeadm's image. The engine reaches every node
// over SSH at its own address, with sudo, systemctl and pgrep as on a node;
// the drill ends with lab verify holding. Then, on the kept lab: `etcd-dr
// check` passes against the restored nodes, and cp-1's CRI (crictl ps over
// the operator's OpenSSH, sudo) shows etcd, kube-apiserver, kube-scheduler
// and kube-controller-manager containers started after the restore.
func TestDrillHeadlessOnRealKubelet(t *testing.T) {
	realSlotLock(t, 10)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	start := time.Now()
	var out, errb bytes.Buffer
	args := []string{"drill", "--headless", "--keep", "--kubelet", "real", "--dir", dir, "--block", realSlot, "--workers", "1"}
	code := run(args, &out, &errb)
	t.Logf("drill --kubelet real: exit %d in %s\nstderr (tail):\n%s", code, time.Since(start).Round(time.Second), tail(errb.String(), 40))
	if code != exitOK {
		t.Fatalf("drill exit %d\nstdout:\n%s", code, &out)
	}
	text := out.String()
	t.Logf("scorecard:\n%s", text)
	for _, want := range []string{
		"flush-caches         done",
		"verify               done",
		"ok    no-restore-while-apiserver-ran",
		"ok    old-data-dirs-untouched",
		"ok    etcd-one-healthy-cluster-one-leader",
		"ok    seed-served-post-snapshot-gone",
		"ok    scheduler-controller-manager-kubelets-restarted-after-restore",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scorecard lacks %q", want)
		}
	}
	requireRestoredWithBroughtEtcdutl(t, dir)

	t.Logf("RSS of everything the nodes run after the drill: %d MiB", realTierRSSMiB(t))
	restoredAt := lastRestore(t, dir)
	t.Run("check passes on the restored nodes", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", filepath.Join(dir, "cluster.yaml")}, &out, &errb); code != exitOK {
			t.Fatalf("check exit %d\n%s\n%s", code, &out, tail(errb.String(), 30))
		}
	})
	t.Run("cp-1's CRI shows the control plane started after the restore", func(t *testing.T) {
		st, err := lab.ReadStatus(dir)
		if err != nil {
			t.Fatal(err)
		}
		var addr string
		for _, n := range st.Nodes {
			if n.Name == "cp-1" {
				addr = n.Addr
			}
		}
		// The operator's OpenSSH, the lab's key and known_hosts: the node's
		// sshd on port 22 of its own address, its own host key.
		cmd := exec.Command("ssh", "-i", filepath.Join(dir, "id_ed25519"), "-o", "UserKnownHostsFile="+filepath.Join(dir, "known_hosts"),
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@"+addr,
			"sudo -n -- crictl ps -q --name '^(etcd|kube-apiserver|kube-scheduler|kube-controller-manager)$' && sudo -n -- crictl ps && pgrep -c -f '^([^ ]*/)?kube-apiserver( |$)'")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ssh cp-1: %v\n%s", err, b)
		}
		t.Logf("cp-1: sudo crictl ps:\n%s", b)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[len(lines)-1] != "1" {
			t.Errorf("pgrep on cp-1 counts %s kube-apiserver processes, want 1 (its own pid namespace)", lines[len(lines)-1])
		}
		for _, name := range []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"} {
			if !containerStartedAfter(t, dir, "cp-1", name, restoredAt) {
				t.Errorf("cp-1: no %s container started after the restore at %s", name, restoredAt.Format(time.RFC3339Nano))
			}
		}
	})
}

// lastRestore is the time of the last restore command in the timeline.
func lastRestore(t *testing.T, dir string) time.Time {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && strings.Contains(e.Command, "snapshot restore") {
			at = e.Time
		}
	}
	if at.IsZero() {
		t.Fatal("no restore in the timeline")
	}
	return at
}

// containerStartedAfter: the timeline's pod-start events on the real tier
// come from the node's CRI (ContainerStatus.StartedAt).
func containerStartedAfter(t *testing.T, dir, node, name string, at time.Time) bool {
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Node == node && e.Kind == lab.EvPodStart && e.Pod == name && e.Time.After(at) && strings.HasSuffix(e.Detail, "(CRI)") {
			return true
		}
	}
	return false
}

// `lab up --kubelet real` on a machine without containerd stops at once,
// naming what is missing, before it builds or creates anything.
func TestLabUpRealRefusesAMachineWithoutContainerd(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"ip", "nsenter", "unshare", "mount", "sh", "curl", "perl"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	dir := filepath.Join(t.TempDir(), "lab")
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"lab", "up", "--kubelet", "real", "--dir", dir, "--block", realSlot, "--workers", "1"}, &out, &errb)
	if code == exitOK {
		t.Fatalf("lab up --kubelet real without containerd: exit 0\n%s", &errb)
	}
	for _, want := range []string{"needs containerd on PATH", "the default tier"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &errb)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes")); err == nil {
		t.Errorf("a refused lab up created %s", filepath.Join(dir, "nodes"))
	}
	t.Logf("refused in %s", time.Since(start).Round(time.Millisecond))
}

// realTierRSSMiB sums VmRSS over every process in the slot's node network
// namespaces (kubelets, containerds, shims, the control plane): a figure
// for the docs, asserted nowhere.
func realTierRSSMiB(t *testing.T) int {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	kb := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "edr"+realSlot+"-") {
			continue
		}
		pids, _ := exec.Command("ip", "netns", "pids", f[0]).Output()
		for _, pid := range strings.Fields(string(pids)) {
			b, _ := os.ReadFile("/proc/" + pid + "/status")
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					n, _ := strconv.Atoi(strings.Fields(v)[0])
					kb += n
				}
			}
		}
	}
	return kb / 1024
}
