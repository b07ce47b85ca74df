package lab

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The seed and the node registration go through client-go; the snapshot
// they lead to must hold what a small real cluster's does: every seed
// object and mirror pod, each kubelet's Lease, the leader Leases and the
// kubelets' start-up Events (stored with the apiserver's event TTL lease).
func TestSeedSnapshotHoldsTheSeedTheLeasesAndTheKubeletsEvents(t *testing.T) {
	l := upLabWith(t, Options{ControlPlanes: 1, Workers: 1, Block: 188, RegisterNodes: true})
	seed, err := ReadSeed(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(labBinaries(t).Etcdutl, "snapshot", "status", seed.Snapshot, "-w", "json").Output()
	if err != nil {
		t.Fatalf("etcdutl snapshot status: %v", err)
	}
	var st struct{ Revision int64 }
	if err := json.Unmarshal(out, &st); err != nil || st.Revision == 0 {
		t.Fatalf("etcdutl snapshot status: %v: %s", err, out)
	}
	cli, err := l.EtcdClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// The snapshot's keyspace, read at its revision (the apiserver
	// compacts every 5 min; the lab is seconds old).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithRev(st.Revision))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int64{} // key → its etcd lease
	for _, kv := range resp.Kvs {
		keys[string(kv.Key)] = kv.Lease
	}
	count := func(prefix string) (n int, leased bool) {
		leased = true
		for k, lease := range keys {
			if strings.HasPrefix(k, prefix) {
				n++
				leased = leased && lease != 0
			}
		}
		return n, leased
	}
	for _, tc := range []struct {
		what   string
		prefix string
		min    int
		leased bool // stored with an etcd lease (the apiserver's --event-ttl)
	}{
		{"seed namespace", "/registry/namespaces/seed-1", 1, false},
		{"seed Deployment", "/registry/deployments/seed-1/seed-web", 1, false},
		{"seed Secret", "/registry/secrets/seed-1/seed-secret", 1, false},
		{"large seed ConfigMap", "/registry/configmaps/seed-2/seed-dashboards", 1, false},
		{"registered control-plane Node", "/registry/minions/cp-1", 1, false},
		{"registered worker Node", "/registry/minions/w-1", 1, false},
		{"mirror pod of cp-1's apiserver", "/registry/pods/kube-system/kube-apiserver-cp-1", 1, false},
		{"cp-1's kubelet Lease", "/registry/leases/kube-node-lease/cp-1", 1, false},
		{"w-1's kubelet Lease", "/registry/leases/kube-node-lease/w-1", 1, false},
		{"kube-scheduler's leader Lease", "/registry/leases/kube-system/kube-scheduler", 1, false},
		{"kube-controller-manager's leader Lease", "/registry/leases/kube-system/kube-controller-manager", 1, false},
		{"cp-1's kubelet start-up Events", "/registry/events/default/cp-1.", 6, true},
		{"w-1's kubelet start-up Events", "/registry/events/default/w-1.", 6, true},
		{"cp-1's apiserver container Events", "/registry/events/kube-system/kube-apiserver-cp-1.", 3, true},
	} {
		n, leased := count(tc.prefix)
		if n < tc.min {
			t.Errorf("%s: %d keys under %s in the snapshot, want at least %d", tc.what, n, tc.prefix, tc.min)
		}
		if tc.leased && n > 0 && !leased {
			t.Errorf("%s: stored without a TTL lease, unlike the apiserver's events", tc.what)
		}
	}
	if n, _ := count("/registry/namespaces/post-snapshot-1"); n != 0 {
		t.Errorf("the namespace created after the snapshot is in it")
	}
	a, err := l.adminClient()
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	n, err := a.cs.CoreV1().Nodes().Get(ctx, "cp-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("cp-1's labels %v lack kubeadm's control-plane role", n.Labels)
	}
}
