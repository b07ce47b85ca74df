package lab

import (
	"strings"
	"testing"
)

// The real tier builds what kubeadm makes by default; every other shape is
// refused by name before anything runs, and the node layout is the one
// realnode.UpCluster numbers (cp-N is index N, workers follow).
func TestRealTierOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"kubeadm's default shape", Options{Kubelet: KubeletReal, Workers: 1, Block: 10}, ""},
		{"fault kubelet-down", Options{Kubelet: KubeletReal, Workers: 1, Block: 10, KubeletDown: []string{"w-1"}}, ""},
		{"an unknown kubelet", Options{Kubelet: "fake"}, `kubelet "fake"`},
		{"external etcd", Options{Kubelet: KubeletReal, Topology: TopologyExternal}, "only the stacked topology"},
		{"systemd etcd", Options{Kubelet: KubeletReal, EtcdMode: EtcdModeSystemd}, "only the stacked topology"},
		{"etcd 3.7.3", Options{Kubelet: KubeletReal, EtcdVersion: "3.7.3"}, "etcd 3.6.6 only"},
		{"an etcd load balancer", Options{Kubelet: KubeletReal, EtcdLB: true}, "no --etcd-lb"},
		{"host etcd tools (kubeadm hosts have none)", Options{Kubelet: KubeletReal, HostEtcdTools: true}, "kubeadm hosts have no etcd tools"},
		{"a slot outside 198.51.100.0/24", Options{Kubelet: KubeletReal, Block: 16}, "--block is the slot"},
		{"more nodes than a /28 holds", Options{Kubelet: KubeletReal, ControlPlanes: 9, Workers: 5}, "at most 13 nodes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir = t.TempDir()
			err := tc.opts.defaults()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, s := range tc.opts.specs() {
					got = append(got, s.Name+"="+s.Addr)
				}
				want := "cp-1=198.51.100.162 cp-2=198.51.100.163 cp-3=198.51.100.164 w-1=198.51.100.165"
				if strings.Join(got, " ") != want {
					t.Errorf("layout %s, want %s", strings.Join(got, " "), want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("defaults() = %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

// On the real tier a fault it does not make is refused by name, listing
// those it makes; the default tier makes every registered fault.
func TestRealTierRefusesFaultsItDoesNotMake(t *testing.T) {
	real := &Lab{real: &realTier{}}
	for _, f := range Faults() {
		err := real.realFaultMade(f.Name)
		made := f.Name == "kubelet-down" || f.Name == "kubelet-sources-not-ready" || f.Name == FaultNewerEtcdSnapshot
		if made != (err == nil) {
			t.Errorf("real tier, fault %s: %v", f.Name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "it makes kubelet-down, kubelet-sources-not-ready, "+FaultNewerEtcdSnapshot) {
			t.Errorf("real tier, fault %s: %v; want the faults it makes named", f.Name, err)
		}
		if err := (&Lab{}).realFaultMade(f.Name); err != nil {
			t.Errorf("default tier, fault %s: %v", f.Name, err)
		}
	}
}

// kubelet-sources-not-ready on the real tier points kubelet.conf's server
// at a port no apiserver listens on, keeping the host and the rest.
func TestRealSourcesNotReadyPointsKubeletConfAtADeadPort(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
		n                int
	}{
		{"kubeadm's kubelet.conf", "clusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://198.51.100.162:6443\n  name: kubernetes\n",
			"clusters:\n- cluster:\n    certificate-authority-data: X\n    server: https://198.51.100.162:6444\n  name: kubernetes\n", 1},
		{"an IPv6 endpoint", "    server: https://[2001:db8::1]:6443\n", "    server: https://[2001:db8::1]:6444\n", 1},
		{"no server line is not made", "clusters: []\n", "clusters: []\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n := deadServer(tc.conf)
			if got != tc.want || n != tc.n {
				t.Fatalf("deadServer = %q, %d; want %q, %d", got, n, tc.want, tc.n)
			}
		})
	}
}
