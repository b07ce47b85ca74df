package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// AdminKubeconfig is DIR/admin.conf: what an operator's ~/.kube/config holds
// for the lab (the first apiserver, the cluster CA, the admin token), for
// `etcd-dr init --kubeconfig`.
const AdminKubeconfig = "admin.conf"

func (l *Lab) writeAdminKubeconfig() error {
	api := l.nodes[l.nodeNames("cp-")[0]].spec.Addr
	conf := clientcmdapi.NewConfig()
	conf.Clusters["drill"] = &clientcmdapi.Cluster{Server: "https://" + api + ":6443",
		CertificateAuthority: filepath.Join(l.opts.Dir, "pki", "ca.crt")}
	conf.AuthInfos["lab-admin"] = &clientcmdapi.AuthInfo{Token: l.state.Tokens.Admin}
	conf.Contexts["lab-admin@drill"] = &clientcmdapi.Context{Cluster: "drill", AuthInfo: "lab-admin"}
	conf.CurrentContext = "lab-admin@drill"
	b, err := clientcmd.Write(*conf) // client-go's serialiser, as kubeadm writes admin.conf
	if err != nil {
		return fmt.Errorf("lab: %s: %w", AdminKubeconfig, err)
	}
	return writeFileAtomic(filepath.Join(l.opts.Dir, AdminKubeconfig), b, 0o600)
}

// registerNodes does what a real kubelet does first against a healthy API:
// create its Node (kubeadm's role label, the InternalIP) and a mirror pod
// per static pod manifest in kube-system. Only with Options.RegisterNodes.
// Every lab kubelet also registers its Node and renews its Lease
// (kubelet_node.go); whichever creates the Node first, this labels it with
// its role as kubeadm does. Mirror pods are made only here: the lab kubelet
// makes none yet, where the real one does. External etcd hosts are not
// Kubernetes nodes and register nothing.
func (l *Lab) registerNodes(ctx context.Context) error {
	a, err := l.adminClient()
	if err != nil {
		return err
	}
	defer a.close()
	for _, name := range l.order {
		s := l.nodes[name].spec
		cp := slices.Contains(s.Roles, "control-plane")
		if !cp && !slices.Contains(s.Roles, "worker") {
			continue
		}
		labels := map[string]string{"kubernetes.io/hostname": s.Name, "kubernetes.io/os": "linux"}
		if cp {
			labels["node-role.kubernetes.io/control-plane"] = ""
		}
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: s.Addr}, {Type: corev1.NodeHostName, Address: s.Name}}}}
		if err := a.create(ctx, "lab: register "+s.Name, object{"/api/v1/nodes/" + s.Name, node}); err != nil {
			return err
		}
		// The node's kubelet may have registered it first (kubelet_node.go),
		// without a role: NodeRestriction refuses a kubelet that sets
		// node-role.kubernetes.io/* on its own Node. kubeadm's
		// mark-control-plane phase labels it with admin credentials; so does
		// the lab, whoever created it.
		lb, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if _, err := a.cs.CoreV1().Nodes().Patch(ctx, s.Name, types.MergePatchType, lb, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("lab: register %s: label its Node via %s: %w", s.Name, a.where(), err)
		}
		pods, err := l.staticPods(s)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if err := a.create(ctx, "lab: register "+s.Name, object{"/api/v1/namespaces/kube-system/pods/" + p.Name, p}); err != nil {
				return err
			}
		}
	}
	return nil
}

// staticPods are the mirror pods of the node's manifests dir, as the
// kubelet's mirror client makes them: kube-system/<pod>-<node>, the
// config hash in kubernetes.io/config.mirror, bound to the node. The
// kubelet's static pod carries the same hash as its UID (events name it).
func (l *Lab) staticPods(s nodeSpec) ([]*corev1.Pod, error) {
	dir := filepath.Join(l.opts.Dir, "nodes", s.Name, "upper", "etc", "kubernetes", "manifests")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("lab: register %s: %w", s.Name, err)
	}
	var out []*corev1.Pod
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("lab: register %s: %w", s.Name, err)
		}
		var pod corev1.Pod
		if err := yaml.Unmarshal(raw, &pod); err != nil {
			return nil, fmt.Errorf("lab: register %s: %s: %w", s.Name, e.Name(), err)
		}
		if pod.Name == "" || len(pod.Spec.Containers) == 0 {
			continue
		}
		sum := sha256.Sum256(raw)
		hash := hex.EncodeToString(sum[:16])
		pod.Name, pod.Namespace = pod.Name+"-"+s.Name, "kube-system"
		pod.Annotations = map[string]string{"kubernetes.io/config.mirror": hash,
			"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": hash}
		pod.Spec.NodeName = s.Name
		out = append(out, &pod)
	}
	return out, nil
}
