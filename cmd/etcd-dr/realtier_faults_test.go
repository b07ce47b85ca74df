package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The default tier's faults, on kubeadm-made nodes under the real kubelet
// (slot 11; one control plane and a worker, the smallest shape each case
// needs, to keep the tier's minutes down):
//   - host-etcd-tools: a kubeadm host has no etcdutl or etcdctl (they live
//     only in the etcd image), which is this tier's only shape; `check` says
//     the restore would bring both from the bastion, and brings nothing.
//   - a snapshot saved by etcd 3.7 (kubeadm v1.35.4 ships 3.6.6) is refused
//     in preflight, before anything changes.
//   - kubelet-down: w-1's real kubelet refuses to start after step 5's
//     `systemctl restart kubelet` (kubeadm's unit crash-loops), and the
//     verify step names w-1, as on the default tier.
func TestRealTierFaultsAsOnTheDefaultTier(t *testing.T) {
	realSlotLock(t, 11)
	// A real-tier lab up on a loaded 2-core machine takes minutes; this
	// only bounds a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Kubelet: lab.KubeletReal, Block: 11,
		ControlPlanes: 1, Workers: 1, Progress: func(s string) { t.Log(s) }})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})

	t.Run("a kubeadm host has no etcd tools: check says the restore brings them, and brings nothing", func(t *testing.T) {
		addr := realNodeAddr(t, l.Dir(), "cp-1")
		if out, err := realSSH(t, l.Dir(), addr, "sudo -n -- sh -c 'command -v etcdutl || command -v etcdctl'"); err == nil {
			t.Fatalf("cp-1 has a host etcd tool: %s", out)
		}
		start := time.Now()
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", l.ClusterFile(), "-o", "json"}, &out, &errb); code != exitOK {
			t.Fatalf("check exit %d\n%s\n%s", code, &out, &errb)
		}
		var got struct{ Nodes []nodeCheck }
		must(t, json.Unmarshal(out.Bytes(), &got))
		seen := 0
		for _, n := range got.Nodes {
			mt := n.EtcdTools
			if mt == nil {
				continue
			}
			seen++
			if mt.EtcdVersion != "3.6.6" || len(mt.Tools) != 2 {
				t.Errorf("%s: %+v; want etcd 3.6.6 and two tools", n.Node, mt)
				continue
			}
			for _, u := range mt.Tools {
				t.Logf("%s: %s: %+v", n.Node, u.Name, u)
				if u.Bastion == "" || !strings.HasPrefix(u.Argv0, "/var/lib/etcd-dr/tools/") {
					t.Errorf("%s: %s would be %+v; want brought from the bastion", n.Node, u.Name, u)
				}
			}
		}
		if seen != 1 {
			t.Errorf("check reported tools for %d members, want 1 (cp-1):\n%s", seen, &out)
		}
		requireNoCommand(t, l, start, "/var/lib/etcd-dr/tools")
	})

	t.Run("a snapshot saved by etcd 3.7 is refused against kubeadm's etcd 3.6.6 before anything changes", func(t *testing.T) {
		snap := withStorageVersion(t, filepath.Join(l.Dir(), "snapshot.db"), "3.7.0")
		cluster := clusterWith(t, l, "etcd37", snap, config.SnapshotOnBastion)
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		requireRefusedInPreflight(t, l, saw, err, start, "storage version 3.7.0", "cp-1 (member cp-1) runs etcd 3.6.6")
	})

	t.Run("a worker whose real kubelet does not come back from step 5 is named at the verify gate", func(t *testing.T) {
		must(t, l.KubeletDown("w-1"))
		cluster := clusterWith(t, l, "kubeletdown", filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		if err == nil {
			t.Fatalf("the run passed with w-1's kubelet down:\n%s", tail(saw, 60))
		}
		all := saw + "\n" + err.Error()
		for _, w := range []string{"w-1: did not come back", "check FAIL w-1      " + steps.CheckNodeLease, "verify failed: w-1: not converged"} {
			if !strings.Contains(all, w) {
				t.Errorf("the operator was not told %q:\n%s", w, tail(all, 60))
			}
		}
		if strings.Contains(all, "check FAIL cp-1     "+steps.CheckNodeLease) {
			t.Errorf("cp-1's lease was named, its kubelet came back:\n%s", tail(all, 60))
		}
		requireSafety(t, l.Dir())
		// The fault is real: w-1's unit crash-loops, and the kubelet's own
		// log says why.
		// Each restart runs the kubelet for the moment it takes to refuse
		// its flags, when systemd says "active" too: the unit must show
		// "activating" (waiting out RestartSec) within a few restarts.
		addr := realNodeAddr(t, l.Dir(), "w-1")
		var seen []string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
			out, _ := realSSH(t, l.Dir(), addr, "systemctl is-active kubelet")
			if seen = append(seen, strings.TrimSpace(out)); seen[len(seen)-1] == "activating" {
				break
			}
		}
		if seen[len(seen)-1] != "activating" {
			t.Errorf("w-1: systemctl is-active kubelet said %q over a minute, want activating (kubeadm's unit crash-looping)", seen)
		}
		evs, err := lab.ReadTimeline(l.Dir())
		must(t, err)
		restarts := 0
		for _, e := range evs {
			if e.Kind == lab.EvKubeletRestart && !e.Time.Before(start) {
				restarts++
				t.Logf("%s: %s", e.Node, e.Detail)
				if !strings.Contains(e.Detail, "SIGTERM, stopped in") {
					t.Errorf("%s: kubelet restart %q; want systemd's SIGTERM stop, without SIGKILL", e.Node, e.Detail)
				}
				if (e.Node == "w-1") != strings.Contains(e.Detail, "did not come back") {
					t.Errorf("%s: kubelet restart %q", e.Node, e.Detail)
				}
			}
		}
		if restarts < 2 {
			t.Errorf("%d kubelet restarts in step 5, want one per node (2)", restarts)
		}
	})
}

// realNodeAddr is node's address from the lab's state.
func realNodeAddr(t *testing.T, dir, node string) string {
	t.Helper()
	st, err := lab.ReadStatus(dir)
	must(t, err)
	for _, n := range st.Nodes {
		if n.Name == node {
			return n.Addr
		}
	}
	t.Fatalf("no node %s in the lab", node)
	return ""
}

// realSSH runs line on a real-tier node with the operator's OpenSSH, the
// lab's key and known_hosts.
func realSSH(t *testing.T, dir, addr, line string) (string, error) {
	t.Helper()
	b, err := exec.Command("ssh", "-i", filepath.Join(dir, "id_ed25519"), "-o", "UserKnownHostsFile="+filepath.Join(dir, "known_hosts"),
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "root@"+addr, line).CombinedOutput()
	return string(b), err
}
