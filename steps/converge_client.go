package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/etcd-dr/etcd-dr/config"
)

// AdminKubeconfig is where kubeadm writes the cluster's admin credentials
// on every control-plane node.
const AdminKubeconfig = "/etc/kubernetes/admin.conf"

// kubeAPI is a client of one control-plane node's kube-apiserver, made from
// the cluster's admin credentials read over SSH. client-go is the kept
// library for the Kubernetes API (watch errors typed as 410, leases,
// strategic patches); the credentials live only in this struct's memory:
// the command that reads them is Quiet (its stdout never reaches the log,
// transcript or journal) and nothing here is ever printed.
type kubeAPI struct {
	cs     kubernetes.Interface
	node   string // the control-plane node whose admin.conf and apiserver are used
	server string // https://<node address>:<port>
}

// kubeAPI returns the client, built on first use from the first
// control-plane node that yields working credentials. The apiserver is
// reached at the node's address from the cluster file (admin.conf may name a
// load balancer the bastion cannot reach), checked with the CA admin.conf
// carries.
func (c *Context) kubeAPI(ctx context.Context) (*kubeAPI, error) {
	c.mu.Lock()
	api := c.kube
	c.mu.Unlock()
	if api != nil {
		return api, nil
	}
	var errs []error
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		api, err := c.kubeAPIOn(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
			continue
		}
		c.mu.Lock()
		c.kube = api
		c.mu.Unlock()
		return api, nil
	}
	return nil, fmt.Errorf("no control-plane node gave usable admin credentials (%s): %w", AdminKubeconfig, errors.Join(errs...))
}

func (c *Context) kubeAPIOn(ctx context.Context, n config.Node) (*kubeAPI, error) {
	raw, err := c.readNodeFile(ctx, n.Name, AdminKubeconfig, "read the cluster's admin credentials (kept in memory, never shown)")
	if err != nil {
		return nil, err
	}
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse as a kubeconfig: %w", AdminKubeconfig, err)
	}
	if err := c.inlineKubeconfigFiles(ctx, n.Name, kc); err != nil {
		return nil, err
	}
	server := "https://" + net.JoinHostPort(n.Address, strconv.Itoa(c.apiserverPort(n.Name)))
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{
		ClusterInfo: clientcmdapi.Cluster{Server: server}}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AdminKubeconfig, err)
	}
	cfg.Timeout = 30 * time.Second // one request; watches set their own
	cfg.UserAgent = "etcd-dr"
	// client-go prints server warnings (Endpoints deprecated) through klog
	// on stderr, under the console's screen: the checks say what matters.
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 20, 40
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &kubeAPI{cs: cs, node: n.Name, server: server}, nil
}

// readNodeFile reads a root-only file over SSH (sudo, as the engine reads
// manifests) without its content reaching any log: it is a credential.
func (c *Context) readNodeFile(ctx context.Context, node, path, what string) ([]byte, error) {
	res, err := c.Exec1(ctx, Action{Node: node, What: what, Quiet: true, ReadOnly: true,
		Cmd: sudo(c.Cluster, "cat", "--", path)})
	if err != nil {
		return nil, err
	}
	return []byte(res.Stdout), nil
}

// inlineKubeconfigFiles replaces the file paths a kubeconfig may name (CA,
// client certificate and key, token file) by their content read from the
// same node: on the bastion those paths mean nothing.
func (c *Context) inlineKubeconfigFiles(ctx context.Context, node string, kc *clientcmdapi.Config) error {
	read := func(path string) ([]byte, error) {
		return c.readNodeFile(ctx, node, path, "read "+path+" that "+AdminKubeconfig+" names (kept in memory)")
	}
	for _, cl := range kc.Clusters {
		if cl.CertificateAuthority != "" && len(cl.CertificateAuthorityData) == 0 {
			b, err := read(cl.CertificateAuthority)
			if err != nil {
				return err
			}
			cl.CertificateAuthorityData, cl.CertificateAuthority = b, ""
		}
	}
	for _, u := range kc.AuthInfos {
		if u.ClientCertificate != "" && len(u.ClientCertificateData) == 0 {
			b, err := read(u.ClientCertificate)
			if err != nil {
				return err
			}
			u.ClientCertificateData, u.ClientCertificate = b, ""
		}
		if u.ClientKey != "" && len(u.ClientKeyData) == 0 {
			b, err := read(u.ClientKey)
			if err != nil {
				return err
			}
			u.ClientKeyData, u.ClientKey = b, ""
		}
		if u.TokenFile != "" && u.Token == "" {
			b, err := read(u.TokenFile)
			if err != nil {
				return err
			}
			u.Token, u.TokenFile = string(trimNL(b)), ""
		}
	}
	return nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
