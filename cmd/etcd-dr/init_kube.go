package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/manifest"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// kubeNode is what init keeps of a Node object.
type kubeNode struct {
	Name         string
	InternalIP   string
	ControlPlane bool
}

func fromNodeObject(n *corev1.Node) kubeNode {
	k := kubeNode{Name: n.Name}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && k.InternalIP == "" {
			k.InternalIP = a.Address
		}
	}
	_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
	_, master := n.Labels["node-role.kubernetes.io/master"]
	k.ControlPlane = cp || master
	return k
}

// discoverFromAPI reads the cluster through a kubeconfig (client-go, the
// library kubectl uses: auth plugins, contexts and CAs as kubectl reads them).
func discoverFromAPI(ctx context.Context, f initFlags) (config.Draft, error) {
	d := config.Draft{Source: "from the API (" + f.kubeconfig + ")"}
	rc, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		return d, fmt.Errorf("kubeconfig %s: %w", f.kubeconfig, err)
	}
	rc.Timeout = 30 * time.Second
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return d, fmt.Errorf("kubeconfig %s: %w", f.kubeconfig, err)
	}
	nl, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return d, fmt.Errorf("list nodes via %s: %w", rc.Host, err)
	}
	byName := map[string]*config.Node{}
	byIP := map[string]*config.Node{}
	var order []string
	for i := range nl.Items {
		k := fromNodeObject(&nl.Items[i])
		if k.InternalIP == "" {
			d.Notes = append(d.Notes, "node "+k.Name+" has no InternalIP: add its address by hand")
			continue
		}
		role := config.RoleWorker
		if k.ControlPlane {
			role = config.RoleControlPlane
		}
		n := &config.Node{Name: k.Name, Address: k.InternalIP, Roles: []string{role}}
		byName[k.Name], byIP[k.InternalIP] = n, n
		order = append(order, k.Name)
	}
	pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{LabelSelector: "component in (etcd,kube-apiserver)"})
	if err != nil {
		return d, fmt.Errorf("list kube-system pods via %s: %w", rc.Host, err)
	}
	etcdServers := ""
	for _, p := range pods.Items {
		n := byName[p.Spec.NodeName]
		if n == nil || len(p.Spec.Containers) == 0 {
			continue
		}
		argv := append(append([]string{}, p.Spec.Containers[0].Command...), p.Spec.Containers[0].Args...)
		switch p.Labels["component"] {
		case "etcd":
			d.EtcdMode = config.EtcdModeStaticPod
			if !n.Has(config.RoleEtcd) {
				n.Roles = append(n.Roles, config.RoleEtcd)
			}
		case "kube-apiserver":
			if v, ok := manifest.FlagIn(argv, "etcd-servers"); ok && etcdServers == "" {
				etcdServers = v
			}
		}
	}
	if d.EtcdMode == "" {
		// No etcd static pods: etcd runs under systemd, on control-plane
		// nodes (kubespray host mode) or on hosts of its own.
		d.EtcdMode = config.EtcdModeSystemd
		i := 0
		for _, u := range strings.Split(etcdServers, ",") {
			h := urlHost(strings.TrimSpace(u))
			if h == "" || h == "127.0.0.1" || h == "localhost" {
				continue
			}
			if n := byIP[h]; n != nil {
				if !n.Has(config.RoleEtcd) {
					n.Roles = append(n.Roles, config.RoleEtcd)
				}
				continue
			}
			i++
			name := fmt.Sprintf("etcd-%d", i)
			byName[name] = &config.Node{Name: name, Address: h, Roles: []string{config.RoleEtcd}}
			order = append(order, name)
			d.Notes = append(d.Notes, fmt.Sprintf("%s (%s) is an etcd host from --etcd-servers, not a Kubernetes node: give it its real name", name, h))
		}
	}
	sort.Strings(order)
	for _, name := range order {
		d.Nodes = append(d.Nodes, *byName[name])
	}
	return d, nil
}

// snapshotNodes lists the Node objects a snapshot holds (the kubelets'
// registrations), so --from-node finds the workers the API would have
// listed. The file is verified first, in a child process, so a damaged one
// is a reason, not a crash.
func snapshotNodes(path string) ([]kubeNode, error) {
	if _, err := snapshot.Verify(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	latest := map[string]*mvccpb.KeyValue{} // key → newest revision, nil once deleted
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("no key bucket")
		}
		// Keys of the bucket are revisions in order; a tombstone's ends in 't'.
		return b.ForEach(func(rev, v []byte) error {
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return nil
			}
			if !bytes.HasPrefix(kv.Key, []byte("/registry/minions/")) {
				return nil
			}
			if len(rev) > 17 && rev[17] == 't' {
				latest[string(kv.Key)] = nil
				return nil
			}
			latest[string(kv.Key)] = &kv
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	dec := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	var out []kubeNode
	for key, kv := range latest {
		if kv == nil {
			continue
		}
		obj, _, err := dec.Decode(kv.Value, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if n, ok := obj.(*corev1.Node); ok {
			out = append(out, fromNodeObject(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
