package steps

import (
	"slices"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
)

// default/kubernetes lists what each apiserver's endpoint reconciler
// writes: its --advertise-address, else its --bind-address, else (kubeadm
// sets neither bind nor, on old nodes, advertise) the node's address. Where
// an apiserver listens is not what it advertises: the drill lab's listen
// on 127.B.x.y and advertise 240.B.x.y, and comparing the listen address
// would call every running apiserver stale.
func TestDefaultKubernetesIsExpectedToListTheAdvertisedAddresses(t *testing.T) {
	const kubeadm = "apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver, namespace: kube-system}\nspec:\n  containers:\n  - name: kube-apiserver\n    command:\n    - kube-apiserver\n    - --etcd-servers=https://127.0.0.1:2379\n"
	for _, tc := range []struct {
		name  string
		flags string // added to each node's manifest; NODE is its number
		want  []string
	}{
		{"advertise and bind differ: the advertised address", "    - --advertise-address=240.9.10.NODE\n    - --bind-address=127.9.10.NODE\n",
			[]string{"240.9.10.1", "240.9.10.2", "240.9.10.3"}},
		{"only advertise (kubeadm): the advertised address", "    - --advertise-address=10.0.0.1NODE\n",
			[]string{"10.0.0.11", "10.0.0.12", "10.0.0.13"}},
		{"only a non-loopback bind address: it", "    - --bind-address=10.1.0.NODE\n",
			[]string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}},
		{"neither: the node's address", "", []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testCluster(t.TempDir())
			c := &Context{Cluster: cl}
			for i, n := range cl.NodesWith(config.RoleControlPlane) {
				num := string(rune('1' + i))
				cl.Nodes[i].Address = "192.0.2." + num
				a, err := ApiserverFromManifest(n.Name, []byte(kubeadm+strings.ReplaceAll(tc.flags, "NODE", num)))
				if err != nil {
					t.Fatal(err)
				}
				c.Values.Apiservers = append(c.Values.Apiservers, a)
			}
			if got := c.expectedAPIServerIPs(); !slices.Equal(got, tc.want) {
				t.Errorf("expected %v, want %v", got, tc.want)
			}
		})
	}
}
