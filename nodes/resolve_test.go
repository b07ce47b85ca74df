package nodes

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

// keygen runs the real ssh-keygen (OpenSSH's, as an operator would).
func keygen(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
	}
}

// openSSHSetup is what an operator's ~/.ssh holds for a cluster behind a
// bastion: an ecdsa key certified by a user CA, a config with a Host alias,
// a non-default port, a ProxyJump hop with its own key, and known_hosts
// split between the user file and a global one.
type openSSHSetup struct {
	dir, config string
	node, hop   *nodetest.SSHD
}

func newOpenSSHSetup(t *testing.T, hopSSHD ...string) openSSHSetup {
	t.Helper()
	dir := t.TempDir()
	user := nodetest.CurrentUser(t)
	ca, key := filepath.Join(dir, "user_ca"), filepath.Join(dir, "id_ecdsa")
	keygen(t, "-q", "-t", "ed25519", "-N", "", "-f", ca)
	keygen(t, "-q", "-t", "ecdsa", "-N", "", "-f", key)
	keygen(t, "-q", "-s", ca, "-I", "operator", "-n", user, "-V", "-5m:+1h", key+".pub")
	// The node trusts the CA only: no authorized key would let the plain
	// ecdsa key in, so a login proves the certificate was offered.
	node := nodetest.StartSSHD(t, nil, "TrustedUserCAKeys "+ca+".pub")
	hopKey := nodetest.NewKey(t)
	hopKeyFile := hopKey.WriteFile(t, dir, "id_hop", 0o600, "")
	hop := nodetest.StartSSHD(t, []nodetest.Key{hopKey}, hopSSHD...)
	userKH, globalKH := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "ssh_known_hosts")
	nodetest.AppendKnownHosts(t, userKH, node.Addr, node.HostKey.Signer.PublicKey())
	nodetest.AppendKnownHosts(t, globalKH, hop.Addr, hop.HostKey.Signer.PublicKey())
	nodeHost, nodePort := nodetest.HostPort(t, node.Addr)
	hopHost, hopPort := nodetest.HostPort(t, hop.Addr)
	cfg := filepath.Join(dir, ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, cfg, fmt.Sprintf(`Host cp-alias
  HostName %s
  Port %d
  User %s
  IdentityFile %s
  CertificateFile %s-cert.pub
  ProxyJump hop
Host hop
  HostName %s
  Port %d
  User %s
  IdentityFile %s
Host *
  UserKnownHostsFile %s
  GlobalKnownHostsFile %s
`, nodeHost, nodePort, user, key, key, hopHost, hopPort, user, hopKeyFile, userKH, globalKH))
	return openSSHSetup{dir: dir, config: cfg, node: node, hop: hop}
}

// cluster is a cluster file that names the node by its alias only and
// leaves every ssh key to OpenSSH's configuration.
func (s openSSHSetup) cluster(mod func(*config.Cluster)) *config.Cluster {
	c := &config.Cluster{
		File: filepath.Join(s.dir, "cluster.yaml"),
		SSH: config.SSH{User: "nobody-from-defaults", Port: 22, KnownHosts: filepath.Join(s.dir, "default_known_hosts"),
			Config: s.config, Concurrency: 4},
		Nodes: []config.Node{{Name: "cp-1", Address: "cp-alias", Roles: []string{config.RoleControlPlane}}},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func TestEveryConnectionFollowsOpenSSHsConfiguration(t *testing.T) {
	tests := []struct {
		name    string
		hopSSHD []string
		mod     func(*config.Cluster)
		wantErr string
	}{
		{name: "an alias reaches its node on its port with its certificate, through its ProxyJump hop with the hop's own key and the global known_hosts"},
		// Proves the hop is used: the same node is unreachable when the
		// hop refuses to forward.
		{name: "a hop that refuses forwarding fails naming the hop", hopSSHD: []string{"AllowTcpForwarding no"},
			wantErr: "through jump host hop"},
		{name: "the cluster file's node port overrides OpenSSH's Port", mod: func(c *config.Cluster) { c.Nodes[0].Port = 1 },
			wantErr: ":1)"},
		{name: "ssh.config none reads no OpenSSH configuration: the alias means nothing", mod: func(c *config.Cluster) {
			c.SSH.Config = config.SSHConfigNone
			c.SSH.Given = config.SSHGiven{IdentityFiles: true, KnownHosts: true}
			c.SSH.IdentityFiles = []string{filepath.Join(filepath.Dir(c.File), "id_hop")}
			c.SSH.KnownHosts = filepath.Join(filepath.Dir(c.File), "known_hosts")
		}, wantErr: "cp-alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOpenSSHSetup(t, tt.hopSSHD...)
			r, err := NewRunner(s.cluster(tt.mod), Options{NoAgent: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "via openssh config"}}, nil)
			if tt.wantErr == "" {
				if err != nil || res.Stdout != "via openssh config\n" {
					t.Fatalf("got %q %v\nnode sshd:\n%s\nhop sshd:\n%s", res.Stdout, err, s.node.Log(), s.hop.Log())
				}
				if !strings.Contains(s.node.Log(), "ECDSA-CERT") {
					t.Errorf("the node's sshd did not log a certificate login:\n%s", s.node.Log())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// Without an ssh client the cluster file alone says how to reach nodes:
// said once, not once per node, and nothing fails for it.
func TestNoSSHClientIsOneWarning(t *testing.T) {
	e := newEnv(t)
	a, _ := e.inproc(t, "cp-1", nil)
	b, _ := e.inproc(t, "cp-2", nil)
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir()) // for NewRunner only: the nodes' shells need theirs
	c := &config.Cluster{
		File: "cluster.yaml",
		SSH: config.SSH{User: "ops", IdentityFiles: []string{e.keyFile}, KnownHosts: e.known,
			Given: config.SSHGiven{User: true, IdentityFiles: true, KnownHosts: true}},
		Nodes: []config.Node{{Name: "cp-1", Address: a.Host, Port: a.Port}, {Name: "cp-2", Address: b.Host, Port: b.Port}},
	}
	r, err := NewRunner(c, Options{NoAgent: true})
	os.Setenv("PATH", path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if w := r.Warnings(); len(w) != 1 || !strings.Contains(w[0], "no OpenSSH client (ssh)") {
		t.Fatalf("warnings %q, want one saying no ssh client", w)
	}
	if res, err := r.Run(context.Background(), "cp-2", Cmd{Args: []string{"echo", "ok"}}, nil); err != nil || res.Stdout != "ok\n" {
		t.Fatalf("got %q %v", res.Stdout, err)
	}
}

// ProxyJump a,b reaches the node through a, then b: each hop is resolved
// through OpenSSH's configuration and must forward for the node to answer.
func TestAProxyJumpChainIsFollowedHopByHop(t *testing.T) {
	tests := []struct {
		name       string
		h1, h2     string // sshd AllowTcpForwarding of each hop
		wantErrHop string
	}{
		{name: "two forwarding hops carry the connection", h1: "yes", h2: "yes"},
		{name: "the first hop refusing is named", h1: "no", h2: "yes", wantErrHop: "jump host h1"},
		{name: "the second hop refusing is named", h1: "yes", h2: "no", wantErrHop: "jump host h2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			node, _ := e.sshd(t, "cp-1")
			h1, _ := e.sshd(t, "h1", "AllowTcpForwarding "+tt.h1)
			h2, _ := e.sshd(t, "h2", "AllowTcpForwarding "+tt.h2)
			cfg := filepath.Join(e.dir, "ssh_config")
			write(t, cfg, fmt.Sprintf("Host cp-1.chain\n  HostName %s\n  Port %d\n  ProxyJump h1,h2\n"+
				"Host h1\n  HostName %s\n  Port %d\nHost h2\n  HostName %s\n  Port %d\n"+
				"Host *\n  User %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
				node.Host, node.Port, h1.Host, h1.Port, h2.Host, h2.Port, node.User, e.keyFile, e.known))
			c := &config.Cluster{File: "cluster.yaml", SSH: config.SSH{KnownHosts: e.known, Config: cfg},
				Nodes: []config.Node{{Name: "cp-1", Address: "cp-1.chain"}}}
			r, err := NewRunner(c, Options{NoAgent: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if tg, _ := r.Target("cp-1"); len(tg.Jumps) != 2 || tg.Jumps[0].Port != h1.Port || tg.Jumps[1].Port != h2.Port {
				t.Fatalf("hops %+v, want h1 then h2", tg.Jumps)
			}
			res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "chained"}}, nil)
			if tt.wantErrHop == "" {
				if err != nil || res.Stdout != "chained\n" {
					t.Fatalf("got %q %v", res.Stdout, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErrHop) {
				t.Fatalf("got %v, want it to name %s", err, tt.wantErrHop)
			}
		})
	}
}
