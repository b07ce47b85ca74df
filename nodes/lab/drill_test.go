package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// mustSSH runs line on node and fails the test if it fails.
func mustSSH(t *testing.T, l *Lab, node, line string) string {
	t.Helper()
	out, err := sshRun(t, l, node, line)
	if err != nil {
		t.Fatalf("%s on %s: %v\n%s", line, node, err, out)
	}
	return out
}

// waitSSH polls line on node until its output equals want.
func waitSSH(t *testing.T, l *Lab, node, line, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, _ := sshRun(t, l, node, line)
		if strings.TrimSpace(out) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s on %s: got %q after %s, want %q", line, node, out, within, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sshWrite writes data to path on node through ssh stdin, as the engine
// streams the snapshot from the bastion.
func sshWrite(t *testing.T, l *Lab, node, path string, data []byte) {
	t.Helper()
	c, err := dialNode(t, l, node)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Stdin = strings.NewReader(string(data))
	if out, err := s.CombinedOutput("cat > '" + path + "'"); err != nil {
		t.Fatalf("write %s on %s: %v\n%s", path, node, err, out)
	}
}

func TestVerifyFailsBeforeARestoreAndHoldsAfterAHandDrivenOne(t *testing.T) {
	l := upLab(t, 3, 1, 1)
	ctx := context.Background()
	seed, err := ReadSeed(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	b := labBinaries(t)
	if out, err := exec.Command(b.Etcdutl, "snapshot", "status", seed.Snapshot, "-w", "json").CombinedOutput(); err != nil {
		t.Fatalf("etcdutl snapshot status %s: %v\n%s", seed.Snapshot, err, out)
	}

	before, err := Verify(ctx, l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	failed := before.Failed()
	for _, want := range []string{CheckObjects, CheckRestartedAfterRestore} {
		if !slices.Contains(failed, want) {
			t.Errorf("before any restore, Verify failed %v; want %s among them (%+v)", failed, want, before.Checks)
		}
	}

	handRestore(t, l, seed)

	after, err := Verify(ctx, l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !after.OK() {
		t.Fatalf("after a correct restore, Verify failed %v: %+v", after.Failed(), after.Checks)
	}
	// The checks must have had something to check, not held vacuously.
	for _, c := range after.Checks {
		switch c.Name {
		case CheckNoRestoreWhileApiserver:
			if !strings.HasPrefix(c.Detail, "3 restore command(s)") {
				t.Errorf("%s: %q, want 3 restores seen", c.Name, c.Detail)
			}
		case CheckOldDataIntact:
			if strings.Count(c.Detail, "/var/lib/etcd unchanged") != 3 {
				t.Errorf("%s: %q, want 3 old data dirs compared", c.Name, c.Detail)
			}
		}
	}
}

// handRestore does the runbook by hand over SSH with production commands
// and paths, as the engine will: it proves the lab behaves like kubeadm
// nodes (parked manifests stop pods, a changed etcd-data hostPath is what
// etcd sees at /var/lib/etcd).
func handRestore(t *testing.T, l *Lab, seed Seed) {
	t.Helper()
	cps := l.nodeNames("cp-")
	var members []nodeSpec
	for _, n := range cps {
		members = append(members, l.nodes[n].spec)
	}
	park := func(pod string) {
		for _, n := range cps {
			mustSSH(t, l, n, "sudo -n -- sh -c 'mkdir -p /etc/kubernetes/parked && mv /etc/kubernetes/manifests/"+pod+".yaml /etc/kubernetes/parked/'")
		}
		for _, n := range cps {
			// 60 s: kube-apiserver does not exit within the kubelet's 30 s
			// grace and is killed then, as on a kubeadm node.
			waitSSH(t, l, n, "pgrep -f '^"+pod+"( |$)' || echo gone", "gone", 60*time.Second)
		}
	}
	unpark := func(pod string) {
		for _, n := range cps {
			mustSSH(t, l, n, "sudo -n -- mv /etc/kubernetes/parked/"+pod+".yaml /etc/kubernetes/manifests/")
		}
	}
	park("kube-apiserver")
	park("etcd")
	snap := mustReadFile(t, seed.Snapshot)
	for _, n := range cps {
		a := l.nodes[n].spec.Addr
		sshWrite(t, l, n, "/var/lib/snapshot.db", snap)
		etcdutl := bringEtcdutl(t, l, n)
		mustSSH(t, l, n, fmt.Sprintf("sudo -n -- "+etcdutl+" snapshot restore /var/lib/snapshot.db --name %s "+
			"--initial-cluster %s --initial-cluster-token drill-restored --initial-advertise-peer-urls https://%s:2380 "+
			"--data-dir /var/lib/etcd-restored --bump-revision 1000000000 --mark-compacted", n, initialCluster(members), a))
		old := mustSSH(t, l, n, "cat /etc/kubernetes/parked/etcd.yaml")
		edited, err := manifest.Edit([]byte(old), manifest.SetHostPath("etcd-data", "/var/lib/etcd-restored"))
		if err != nil {
			t.Fatal(err)
		}
		sshWrite(t, l, n, "/etc/kubernetes/parked/etcd.yaml", edited)
	}
	unpark("etcd")
	for _, n := range cps {
		// A kubeadm node has no etcdctl: ask etcd's metrics listener, as
		// the pod's own probes do.
		waitSSH(t, l, n, "curl -s http://"+l.nodes[n].spec.Addr+":2381/health | grep -q '\"health\":\"true\"' && echo healthy",
			"healthy", 30*time.Second)
	}
	unpark("kube-apiserver")
	for _, n := range cps {
		waitSSH(t, l, n, "curl -s -o /dev/null -w '%{http_code}' --cacert /etc/kubernetes/pki/ca.crt "+
			"-H 'Authorization: Bearer "+l.Tokens().Admin+"' https://"+l.nodes[n].spec.Addr+":6443/readyz", "200", 60*time.Second)
	}
	for _, pod := range []string{"kube-scheduler", "kube-controller-manager"} {
		park(pod)
		unpark(pod)
	}
	for _, n := range l.order {
		mustSSH(t, l, n, "sudo -n -- systemctl restart kubelet")
	}
	for _, n := range cps {
		for _, pod := range []string{"kube-scheduler", "kube-controller-manager"} {
			// A restarted kubelet starts the pod at once, but one that crashed
			// while its apiserver warmed up (seen at load 10+) waits out the
			// kubelet's crash backoff (10 s, then 20 s, as the real one): a
			// minute bounds a hang only.
			waitSSH(t, l, n, "pgrep -c -f '^"+pod+"( |$)'", "1", time.Minute)
		}
	}
}

// bringEtcdutl copies the lab's etcdutl (of the members' etcd version) to
// node, as an operator brings one to a kubeadm node that has none, and
// returns its path there: sudo's secure_path would not find it by name.
func bringEtcdutl(t *testing.T, l *Lab, node string) string {
	t.Helper()
	const p = "/var/lib/hand-tools/etcdutl"
	mustSSH(t, l, node, "sudo -n -- mkdir -p -m 0700 /var/lib/hand-tools")
	sshWrite(t, l, node, p, mustReadFile(t, l.bins.Etcdutl))
	mustSSH(t, l, node, "sudo -n -- chmod 0700 "+p)
	return p
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
