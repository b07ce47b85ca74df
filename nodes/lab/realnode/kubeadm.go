package realnode

import (
	"context"
	"fmt"
	"strings"
)

// Versions kubeadm v1.35.4 pins (cmd/kubeadm/app/constants): the images the
// node's containerd must hold under these exact names.
const (
	KubeVersion = "v1.35.4"
	EtcdTag     = "3.6.6-0" // DefaultEtcdVersion
	PauseTag    = "3.10.1"  // PauseVersion
	Registry    = "registry.k8s.io"
	// CRISocket is containerd's production socket; inside the node's own
	// /run it is the node's containerd.
	CRISocket = "unix:///run/containerd/containerd.sock"
)

// Images kubeadm v1.35.4 names for a control-plane node, by component.
func Images() map[string]string {
	return map[string]string{
		"kube-apiserver":          Registry + "/kube-apiserver:" + KubeVersion,
		"kube-controller-manager": Registry + "/kube-controller-manager:" + KubeVersion,
		"kube-scheduler":          Registry + "/kube-scheduler:" + KubeVersion,
		"etcd":                    Registry + "/etcd:" + EtcdTag,
		"pause":                   Registry + "/pause:" + PauseTag,
	}
}

// CgroupRoot is the node's cgroup root: kubelets sharing the machine's
// root would each treat the others' pods as their own.
func (nd *Node) CgroupRoot() string { return fmt.Sprintf("/edr%d-%s", nd.net.Slot, nd.Name) }

// BootstrapToken is the lab's kubeadm join token (a lab has no secrets to
// keep: its clusters live on one machine for one drill).
const BootstrapToken = "edrlab.0123456789abcdef"

// kubeletPatch is the node's own part of the KubeletConfiguration, applied
// by kubeadm's patches mechanism on init and join alike (the cluster-wide
// part lives in the kubelet-config ConfigMap).
func (nd *Node) kubeletPatch() string {
	return "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupRoot: " + nd.CgroupRoot() + "\n"
}

// KubeadmConfig is the node's kubeadm configuration: production defaults
// except where this machine differs from a node (docs/real-kubelet.md):
// the kubelet accepts cgroup v1, uses the cgroupfs driver (no systemd here)
// and its own cgroup root.
func (nd *Node) KubeadmConfig(endpoint string) string {
	certKey := ""
	if nd.CertificateKey != "" {
		certKey = "certificateKey: " + nd.CertificateKey + "\n"
	}
	return fmt.Sprintf(`apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: %[1]s
  bindPort: 6443
nodeRegistration:
  name: %[2]s
  criSocket: %[3]s
  imagePullPolicy: Never
  kubeletExtraArgs:
  - name: node-ip
    value: %[1]s
patches:
  directory: /etc/kubernetes/patches
%[7]sbootstrapTokens:
- token: %[8]s
  ttl: 24h0m0s
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: etcd-dr-lab
kubernetesVersion: %[4]s
controlPlaneEndpoint: %[5]s
etcd:
  local:
    imageTag: %[6]s
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
`, nd.Addr, nd.Name, CRISocket, KubeVersion, endpoint, EtcdTag, certKey, BootstrapToken)
}

// InitPhases are the kubeadm init phases the node runs, in kubeadm's order,
// all offline: they write the certificates, kubeconfigs, the kubelet's
// config and flags, and the static pod manifests.
var InitPhases = [][]string{
	{"certs", "all"},
	{"kubeconfig", "all"},
	{"etcd", "local"},
	{"control-plane", "all"},
	{"kubelet-start"},
}

// KubeadmInit writes the node's kubeadm config to /etc/kubernetes/kubeadm.yaml
// (inside the node) and runs InitPhases with kubeadm (a host path; run in
// the node's namespaces). endpoint is the controlPlaneEndpoint (host:6443).
func (nd *Node) KubeadmInit(ctx context.Context, kubeadm, endpoint string, log func(string)) error {
	if err := nd.WriteFile(ctx, "/etc/kubernetes/patches/kubeletconfiguration+strategic.yaml", nd.kubeletPatch()); err != nil {
		return err
	}
	if err := nd.WriteFile(ctx, "/etc/kubernetes/kubeadm.yaml", nd.KubeadmConfig(endpoint)); err != nil {
		return err
	}
	for _, ph := range InitPhases {
		args := append(append([]string{"init", "phase"}, ph...), "--config", "/etc/kubernetes/kubeadm.yaml")
		out, err := nd.Run(ctx, kubeadm, args...)
		if log != nil {
			log(fmt.Sprintf("%s: kubeadm %v:\n%s", nd.Name, args, out))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ReadFile reads path as the node sees it.
func (nd *Node) ReadFile(ctx context.Context, path string) (string, error) {
	return nd.Run(ctx, "cat", path)
}

// WriteFile writes content to path as the node sees it (through its
// overlays, never into an upper dir behind the overlay's back).
func (nd *Node) WriteFile(ctx context.Context, path, content string) error {
	cmd := nd.Command(ctx, "sh", "-c", `mkdir -p "$(dirname "$1")" && cat > "$1"`, "sh", path)
	cmd.Stdin = strings.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s on %s: %w: %s", path, nd.Name, err, out)
	}
	return nil
}
