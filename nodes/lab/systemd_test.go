package lab

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

func TestExternalSystemdEtcdLabRestoresThroughSystemctl(t *testing.T) {
	// A start timeout shorter than systemd's 90 s keeps the lone-start
	// case below short; 20 s still leaves a loaded CI machine room to
	// boot three members together.
	l := upLabWith(t, Options{ControlPlanes: 1, Topology: TopologyExternal, EtcdMode: EtcdModeSystemd, Block: 3,
		UnitStartTimeout: 20 * time.Second, HostEtcdTools: true})
	ctx := context.Background()
	members := l.opts.members()
	if len(members) != 3 || members[0].Name != "etcd-1" {
		t.Fatalf("external members: %+v; want etcd-1..3", members)
	}
	tests := []struct{ name, node, line, want string }{
		{"the control-plane node runs no etcd manifest", "cp-1", "ls /etc/kubernetes/manifests | tr '\\n' ' '",
			"kube-apiserver.yaml kube-controller-manager.yaml kube-scheduler.yaml "},
		{"the apiserver points at all three external members", "cp-1",
			"grep -o 'etcd-servers=.*' /etc/kubernetes/manifests/kube-apiserver.yaml",
			"etcd-servers=https://127.3.30.1:2379,https://127.3.30.2:2379,https://127.3.30.3:2379"},
		{"etcd runs as an active unit on etcd-2", "etcd-2", "systemctl is-active etcd", "active"},
		{"etcd-2's data dir comes from /etc/etcd.env", "etcd-2", "grep ETCD_DATA_DIR /etc/etcd.env", "ETCD_DATA_DIR=/var/lib/etcd"},
		{"the unit starts kubespray's /usr/local/bin/etcd", "etcd-2", "systemctl show -p ExecStart --value etcd | grep -o 'path=[^ ]*'",
			"path=/usr/local/bin/etcd"},
		{"kubespray's etcdutl is in /usr/local/bin", "etcd-2", "command -v etcdutl", "/usr/local/bin/etcdutl"},
		{"which RHEL's sudo does not search (secure_path)", "etcd-2", "sudo -n -- etcdutl version 2>&1; echo exit $?",
			"sudo: etcdutl: command not found\nexit 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.TrimSpace(mustSSH(t, l, tt.node, tt.line)); got != strings.TrimSpace(tt.want) {
				t.Fatalf("%s on %s: got %q, want %q", tt.line, tt.node, got, tt.want)
			}
		})
	}
	before, err := Verify(ctx, l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(before.Failed(), CheckObjects) {
		t.Fatalf("before a restore, Verify failed %v; want %s among them", before.Failed(), CheckObjects)
	}

	systemdRestore(t, l)
	after, err := Verify(ctx, l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !after.OK() {
		t.Fatalf("after a systemd-mode restore, Verify failed %v: %+v", after.Failed(), after.Checks)
	}
	exitedUnitIsActivatingUntilReadyAgain(t, l, members[1].Name)
}

// exitedUnitIsActivatingUntilReadyAgain: Restart=always and Type=notify on
// every start, not only the first: a member whose etcd exits is
// "activating" (auto-restart, then start) until the new process sends
// READY=1, and only then "active" again.
func exitedUnitIsActivatingUntilReadyAgain(t *testing.T, l *Lab, node string) {
	t.Helper()
	old := strings.TrimSpace(mustSSH(t, l, node, "pgrep -x etcd"))
	mustSSH(t, l, node, "sudo -n -- kill -KILL "+old)
	// The unit is activating for RestartSec (10 s) at least; 5 s bounds
	// noticing the exit.
	waitSSH(t, l, node, "systemctl is-active etcd", "activating", 5*time.Second)
	if out := mustSSH(t, l, node, "systemctl status etcd || true"); !strings.Contains(out, "activating (auto-restart)") {
		t.Fatalf("status while waiting to restart: %q", out)
	}
	// RestartSec, then a new etcd that joins its quorum and notifies.
	waitSSH(t, l, node, "systemctl is-active etcd", "active", time.Minute)
	if now := strings.TrimSpace(mustSSH(t, l, node, "pgrep -x etcd")); now == old || now == "" {
		t.Fatalf("etcd pid after the restart = %q, was %q", now, old)
	}
}

// systemdRestore is the runbook for external etcd run by systemd, by hand.
func systemdRestore(t *testing.T, l *Lab) {
	t.Helper()
	members := l.opts.members()
	seed, err := ReadSeed(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	mustSSH(t, l, "cp-1", "sudo -n -- sh -c 'mkdir -p /etc/kubernetes/parked && mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/parked/'")
	// 60 s: kube-apiserver outlives the kubelet's 30 s grace and is killed.
	waitSSH(t, l, "cp-1", "pgrep -f '^kube-apiserver( |$)' || echo gone", "gone", 60*time.Second)
	for _, m := range members {
		mustSSH(t, l, m.Name, "sudo -n -- systemctl stop etcd")
		waitSSH(t, l, m.Name, "systemctl is-active etcd; pgrep -x etcd || echo gone", "inactive\ngone", 10*time.Second)
	}
	snap := mustReadFile(t, seed.Snapshot)
	for _, m := range members {
		sshWrite(t, l, m.Name, "/var/lib/snapshot.db", snap)
		mustSSH(t, l, m.Name, fmt.Sprintf("sudo -n -- /usr/local/bin/etcdutl snapshot restore /var/lib/snapshot.db --name %s "+
			"--initial-cluster %s --initial-cluster-token drill-restored --initial-advertise-peer-urls https://%s:2380 "+
			"--data-dir /var/lib/etcd-restored --bump-revision 1000000000 --mark-compacted", m.Name, initialCluster(members), m.Addr))
		env, err := manifest.EditEtcdEnv([]byte(mustSSH(t, l, m.Name, "cat /etc/etcd.env")), "ETCD_DATA_DIR", "/var/lib/etcd-restored")
		if err != nil {
			t.Fatal(err)
		}
		sshWrite(t, l, m.Name, "/etc/etcd.env", env)
	}
	lonelyStartTimesOut(t, l, members[0].Name)
	// Type=notify: each start would block until its member has a quorum,
	// so the runbook starts them all without waiting on the job.
	for _, m := range members {
		mustSSH(t, l, m.Name, "sudo -n -- systemctl start --no-block etcd")
	}
	for _, m := range members {
		waitSSH(t, l, m.Name, "systemctl is-active etcd", "active", 60*time.Second)
	}
	mustSSH(t, l, "cp-1", "sudo -n -- mv /etc/kubernetes/parked/kube-apiserver.yaml /etc/kubernetes/manifests/")
	waitSSH(t, l, "cp-1", "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/kubernetes/pki/ca.crt "+
		"-H 'Authorization: Bearer "+l.Tokens().Admin+"' https://127.3.10.1:6443/readyz", "200", 60*time.Second)
	for _, pod := range []string{"kube-scheduler", "kube-controller-manager"} {
		mustSSH(t, l, "cp-1", "sudo -n -- mv /etc/kubernetes/manifests/"+pod+".yaml /etc/kubernetes/parked/")
		waitSSH(t, l, "cp-1", "pgrep -f '^"+pod+"( |$)' || echo gone", "gone", 15*time.Second)
		mustSSH(t, l, "cp-1", "sudo -n -- mv /etc/kubernetes/parked/"+pod+".yaml /etc/kubernetes/manifests/")
	}
	for _, n := range l.order {
		mustSSH(t, l, n, "sudo -n -- systemctl restart kubelet")
	}
	for _, pod := range []string{"kube-scheduler", "kube-controller-manager"} {
		// A restarted kubelet starts the pod at once, but one that crashed
		// while its apiserver warmed up (seen at load 10+) waits out the
		// kubelet's crash backoff (10 s, then 20 s, as the real one): a
		// minute bounds a hang only.
		waitSSH(t, l, "cp-1", "pgrep -c -f '^"+pod+"( |$)'", "1", time.Minute)
	}
}

// lonelyStartTimesOut: kubespray's etcd.service is Type=notify and etcd
// notifies only once it serves, which needs a quorum; a lone blocking
// start fails after the start timeout and systemd kills the process.
func lonelyStartTimesOut(t *testing.T, l *Lab, node string) {
	t.Helper()
	began := time.Now()
	out, err := sshRun(t, l, node, "sudo -n -- systemctl start etcd")
	if err == nil {
		t.Fatalf("a lone start of a Type=notify etcd without quorum succeeded after %s: %s", time.Since(began), out)
	}
	if took := time.Since(began); took < 15*time.Second || !strings.Contains(out, "timeout was exceeded") {
		t.Fatalf("a lone start failed after %s (want the 20 s start timeout) with %q", took, out)
	}
	waitSSH(t, l, node, "systemctl is-active etcd; pgrep -x etcd || echo gone", "failed\ngone", 30*time.Second)
}
