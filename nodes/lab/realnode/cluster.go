package realnode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// ClusterNode is a node with its services.
type ClusterNode struct {
	*Node
	ControlPlane bool
	Containerd   *Containerd
	Kubelet      *Kubelet
}

// Cluster is a kubeadm-made cluster of real-tier nodes: cp-1 by `kubeadm
// init` (its phases), the other control-plane nodes and the workers by
// `kubeadm join` against cp-1.
type Cluster struct {
	Net      *Net
	Dir      string
	Nodes    []*ClusterNode
	Endpoint string // controlPlaneEndpoint: cp-1's address:6443
	certKey  string
}

// Binaries the cluster runs: the host paths of kubeadm and kubelet, and the
// image archives (image name -> OCI archive) every node imports.
type ClusterBinaries struct {
	Kubeadm, Kubelet string
	Archives         map[string]string
}

// JoinIgnorePreflight are the kubeadm preflight checks a joining node
// ignores, each because this machine differs from a node there
// (docs/real-kubelet.md says why for each).
var JoinIgnorePreflight = []string{
	"SystemVerification", // cgroup v1 and a kernel config kubeadm cannot read in this VM
	"FileContent--proc-sys-net-bridge-bridge-nf-call-iptables", // no br_netfilter module here; no CNI either
	"Service-Kubelet", // no systemd: the lab supervises the kubelet as the unit would
}

// UpCluster brings up cps control-plane nodes (stacked etcd) and workers
// under dir in slot's network. progress gets one line per step. On error
// the nodes made so far stay for the caller's Down (their logs explain).
func UpCluster(ctx context.Context, slot int, dir string, cps, workers int, bins ClusterBinaries, progress func(string)) (*Cluster, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if err := Check(); err != nil {
		return nil, err
	}
	n, err := NewNet(ctx, slot)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c := &Cluster{Net: n, Dir: dir, certKey: hex.EncodeToString(key)}
	add := func(name string, i int, cp bool) (*ClusterNode, error) {
		nd, err := n.AddNode(ctx, dir, name, i)
		if err != nil {
			return nil, err
		}
		cn := &ClusterNode{Node: nd, ControlPlane: cp}
		c.Nodes = append(c.Nodes, cn)
		for name, src := range map[string]string{"kubeadm": bins.Kubeadm, "kubelet": bins.Kubelet} {
			if err := nd.Install(ctx, name, src); err != nil {
				return nil, err
			}
		}
		if cn.Containerd, err = nd.StartContainerd(ctx); err != nil {
			return nil, err
		}
		progress(fmt.Sprintf("%s: %s, containerd up; importing images", name, nd.Addr))
		archives := bins.Archives
		if !cp {
			archives = map[string]string{Images()["pause"]: bins.Archives[Images()["pause"]]}
		}
		if err := nd.ImportImages(ctx, archives); err != nil {
			return nil, err
		}
		return cn, nil
	}
	cp1, err := add("cp-1", 1, true)
	if err != nil {
		return c, err
	}
	c.Endpoint = cp1.Addr.String() + ":6443"
	cp1.CertificateKey = c.certKey
	progress("cp-1: kubeadm init phases")
	if err := cp1.KubeadmInit(ctx, "kubeadm", c.Endpoint, nil); err != nil {
		return c, err
	}
	if cp1.Kubelet, err = cp1.StartKubelet("/usr/local/bin/kubelet"); err != nil {
		return c, err
	}
	progress("cp-1: kubelet started; waiting for the control plane")
	if err := cp1.WaitReady(ctx); err != nil {
		return c, err
	}
	for _, ph := range [][]string{
		{"upload-config", "all"},
		{"upload-certs", "--upload-certs"},
		{"mark-control-plane"},
		{"bootstrap-token"},
		{"kubelet-finalize", "all"},
	} {
		args := append(append([]string{"init", "phase"}, ph...), "--config", "/etc/kubernetes/kubeadm.yaml")
		if _, err := cp1.Run(ctx, "kubeadm", args...); err != nil {
			return c, err
		}
	}
	caHash, err := c.caCertHash(ctx)
	if err != nil {
		return c, err
	}
	var joins []struct {
		name string
		cp   bool
	}
	for i := 2; i <= cps; i++ {
		joins = append(joins, struct {
			name string
			cp   bool
		}{fmt.Sprintf("cp-%d", i), true})
	}
	for i := 1; i <= workers; i++ {
		joins = append(joins, struct {
			name string
			cp   bool
		}{fmt.Sprintf("w-%d", i), false})
	}
	for i, j := range joins {
		cn, err := add(j.name, i+2, j.cp)
		if err != nil {
			return c, err
		}
		// The kubelet service runs (and restarts every RestartDelay) before
		// join writes its config, as on a node where the package enabled it.
		if cn.Kubelet, err = cn.StartKubelet("/usr/local/bin/kubelet"); err != nil {
			return c, err
		}
		progress(fmt.Sprintf("%s: kubeadm join%s", j.name, map[bool]string{true: " --control-plane"}[j.cp]))
		if err := cn.WriteFile(ctx, "/etc/kubernetes/patches/kubeletconfiguration+strategic.yaml", cn.kubeletPatch()); err != nil {
			return c, err
		}
		if err := cn.WriteFile(ctx, "/etc/kubernetes/kubeadm-join.yaml", cn.joinConfig(c.Endpoint, caHash, c.certKey, j.cp)); err != nil {
			return c, err
		}
		if _, err := cn.Run(ctx, "kubeadm", "join", "--config", "/etc/kubernetes/kubeadm-join.yaml", "-v=1"); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (nd *Node) joinConfig(endpoint, caHash, certKey string, cp bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: %s
    token: %s
    caCertHashes:
    - %s
nodeRegistration:
  name: %s
  criSocket: %s
  imagePullPolicy: Never
  kubeletExtraArgs:
  - name: node-ip
    value: %s
  ignorePreflightErrors:
`, endpoint, BootstrapToken, caHash, nd.Name, CRISocket, nd.Addr)
	for _, e := range JoinIgnorePreflight {
		fmt.Fprintf(&b, "  - %s\n", e)
	}
	b.WriteString("patches:\n  directory: /etc/kubernetes/patches\n")
	if cp {
		fmt.Fprintf(&b, "controlPlane:\n  localAPIEndpoint:\n    advertiseAddress: %s\n    bindPort: 6443\n  certificateKey: %s\n", nd.Addr, certKey)
	}
	return b.String()
}

// caCertHash is kubeadm's --discovery-token-ca-cert-hash of cp-1's CA:
// sha256 of its SubjectPublicKeyInfo.
func (c *Cluster) caCertHash(ctx context.Context) (string, error) {
	p, err := c.Nodes[0].ReadFile(ctx, "/etc/kubernetes/pki/ca.crt")
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode([]byte(p))
	if blk == nil {
		return "", fmt.Errorf("cp-1's ca.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// WaitReady waits until the node's apiserver answers /readyz with 200 on
// the node's address (its etcd check included), verified against the CA
// kubeadm made: what kubeadm's wait-control-plane phase checks. That phase
// is not run: without --config (it takes none) it would look for the
// advertise address on a default route, which a lab node has not.
func (nd *Node) WaitReady(ctx context.Context) error {
	caPEM, err := nd.ReadFile(ctx, "/etc/kubernetes/pki/ca.crt")
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	last := "no answer"
	for {
		resp, err := client.Get("https://" + nd.Addr.String() + ":6443/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, tail(string(b), 5))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: apiserver not ready (%s): %w", nd.Name, last, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
}

// Down stops every kubelet and containerd and removes the nodes, the
// network and the namespace files. The nodes' directories stay in Dir.
func (c *Cluster) Down(ctx context.Context) {
	for _, cn := range c.Nodes {
		cn.Kubelet.Stop()
	}
	for _, cn := range c.Nodes {
		cn.Containerd.Stop()
		cn.Remove(ctx)
	}
	c.Net.Close(ctx)
	ReleaseDir(c.Dir)
}

// Wait polls cond every interval until it holds or ctx ends.
func Wait(ctx context.Context, interval time.Duration, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
	return true
}
