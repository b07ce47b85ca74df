package lab

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

// templates hold kubeadm v1.35's static pod manifests, with the lab's
// addresses in place of kubeadm's 127.0.0.1 where nodes share one network
// namespace (two members cannot both listen on 127.0.0.1:2379).
//
//go:embed templates/*
var templateFS embed.FS

// manifestData fills the templates for one node.
type manifestData struct {
	Name, Addr string
	// Advertise is the apiserver's --advertise-address (advertiseAddr).
	Advertise                 string
	InitialCluster            string // name=https://addr:2380,...
	EtcdServers               string // https://addr:2379 (the node's own member, as kubeadm stacked)
	EtcdImageTag, KubeVersion string // "3.6.6-0" (kubeadm's tag), "v1.35.4"
	User, Token               string // kubeconfig only
	// EncryptionConfig is the apiserver's --encryption-provider-config
	// ("" : encryption at rest off), in EncryptionDir (encryption.go).
	EncryptionConfig, EncryptionDir string
}

// Tokens are the lab's static bearer tokens (--token-auth-file). Admin is in
// system:masters; scheduler and controller-manager use their own users so the
// bootstrap RBAC policy applies as on kubeadm clusters.
type Tokens struct {
	Admin             string `json:"admin"`
	Scheduler         string `json:"scheduler"`
	ControllerManager string `json:"controllerManager"`
	// Kubelets are each node's kubelet credential, by node name: user
	// system:node:NAME in group system:nodes, as a kubelet's client
	// certificate says, so the Node authorizer and NodeRestriction
	// confine it to its own Node and Lease as on a kubeadm node.
	Kubelets map[string]string `json:"kubelets,omitempty"`
}

func (t Tokens) csv() string {
	var kubelets strings.Builder
	names := make([]string, 0, len(t.Kubelets))
	for n := range t.Kubelets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&kubelets, "%s,system:node:%s,system:node:%s,\"system:nodes\"\n", t.Kubelets[n], n, n)
	}
	return kubelets.String() + fmt.Sprintf("%s,lab-admin,lab-admin,\"system:masters\"\n"+
		"%s,system:kube-scheduler,system:kube-scheduler\n"+
		"%s,system:kube-controller-manager,system:kube-controller-manager\n",
		t.Admin, t.Scheduler, t.ControllerManager)
}

// advertiseAddr is the apiserver's --advertise-address for a node at addr
// (127.B.x.y): 240.B.x.y. kubeadm advertises the node's IP, and the
// apiserver's endpoint reconciler writes that address into
// default/kubernetes, whose validation refuses loopback (ValidateEndpointIP):
// advertising 127.B.x.y left the lab with no default/kubernetes at all, so the
// verify step's stale-apiserver proof compared nothing. The plain lab shares
// the host's network namespace and cannot own a non-loopback address without
// changing the host, so it advertises one from 240.0.0.0/4 (reserved, never
// routed), mapped one to one from the node's address. Nothing connects to it:
// the apiserver still listens on --bind-address=127.B.x.y, where etcd-dr and
// the probes reach it. The real tier's nodes own 198.51.100.x and advertise it
// as kubeadm does.
func advertiseAddr(addr string) string {
	if rest, ok := strings.CutPrefix(addr, "127."); ok {
		return "240." + rest
	}
	return addr
}

func render(name string, d manifestData) ([]byte, error) {
	t, err := template.ParseFS(templateFS, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("lab manifest template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("lab manifest %s for %s: %w", name, d.Name, err)
	}
	return b.Bytes(), nil
}

// writeEtcdMember writes an etcd member's configuration under etcDir (the
// node's /etc): the kubeadm static pod etcd.yaml, or in systemd mode the
// kubespray-style /etc/etcd.env the lab's etcd unit reads.
func writeEtcdMember(etcDir string, d manifestData, mode string) error {
	name, dst := "etcd.yaml", filepath.Join(etcDir, "kubernetes", "manifests", "etcd.yaml")
	if mode == EtcdModeSystemd {
		name, dst = "etcd.env", filepath.Join(etcDir, "etcd.env")
	}
	b, err := render(name, d)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("node %s: %w", d.Name, err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		return fmt.Errorf("node %s: %w", d.Name, err)
	}
	return nil
}

// writeControlPlane writes a control-plane node's /etc/kubernetes under
// etcDir: apiserver, scheduler and controller-manager manifests, their
// kubeconfigs and the token file.
func writeControlPlane(etcDir string, d manifestData, tok Tokens) error {
	k8s := filepath.Join(etcDir, "kubernetes")
	manifests := filepath.Join(k8s, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		return fmt.Errorf("node %s: %w", d.Name, err)
	}
	for _, p := range []string{"kube-apiserver.yaml", "kube-scheduler.yaml", "kube-controller-manager.yaml"} {
		b, err := render(p, d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(manifests, p), b, 0o600); err != nil {
			return fmt.Errorf("node %s: %w", d.Name, err)
		}
	}
	confs := map[string][2]string{
		"scheduler.conf":          {"system:kube-scheduler", tok.Scheduler},
		"controller-manager.conf": {"system:kube-controller-manager", tok.ControllerManager},
		"admin.conf":              {"lab-admin", tok.Admin},
	}
	for file, ut := range confs {
		dd := d
		dd.User, dd.Token = ut[0], ut[1]
		b, err := render("kubeconfig.conf", dd)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(k8s, file), b, 0o600); err != nil {
			return fmt.Errorf("node %s: %w", d.Name, err)
		}
	}
	return os.WriteFile(filepath.Join(k8s, "pki", "lab-tokens.csv"), []byte(tok.csv()), 0o600)
}

// clientURLs renders --etcd-servers for the members.
func clientURLs(members []nodeSpec) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, "https://"+m.Addr+":2379")
	}
	return strings.Join(parts, ",")
}

// initialCluster renders --initial-cluster for members name→address.
func initialCluster(members []nodeSpec) string {
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, fmt.Sprintf("%s=https://%s:2380", m.Name, m.Addr))
	}
	return strings.Join(parts, ",")
}
