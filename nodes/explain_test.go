package nodes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
)

// Explain says, per node and per value, what the Runner will use and where
// it came from, with OpenSSH's real ssh -G and no server at all: it never
// connects, and needs no key or known_hosts file to exist.
func TestExplainSaysWhereEachSSHValueCameFrom(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ops")
	write(t, key, "a key file ssh -G lists (Explain reads no key)")
	cfg := filepath.Join(dir, "ssh_config")
	write(t, cfg, fmt.Sprintf(`Host cp-alias
  HostName 10.9.0.11
  Port 2222
  User ops
  IdentityFile %s
  ProxyJump hop
Host hop
  HostName 10.9.0.1
  User jumper
Host cp-bare-hop
  HostName 10.9.0.12
  ProxyJump barehop
Host barehop
  HostName 10.9.0.2
Host *
  UserKnownHostsFile %s
`, key, filepath.Join(dir, "kh")))
	type want struct{ host, hostFrom, port, portFrom, user, userFrom, jump, jumpFrom, khFrom string }
	tests := []struct {
		name string
		mod  func(*config.Cluster)
		want want
	}{
		{name: "an alias takes everything from ssh_config",
			want: want{"10.9.0.11", FromSSHConfig, "2222", FromSSHConfig, "ops", FromSSHConfig, "jumper@10.9.0.1:22", FromSSHConfig, FromSSHConfig}},
		{name: "the cluster file's ssh keys win over ssh_config",
			mod: func(c *config.Cluster) {
				c.SSH.User, c.SSH.Port, c.SSH.KnownHosts = "root", 22, filepath.Join(dir, "file_kh")
				c.SSH.Given = config.SSHGiven{User: true, Port: true, KnownHosts: true}
			},
			// The hop keeps the User its own Host block names (ssh -J does).
			want: want{"10.9.0.11", FromSSHConfig, "22", FromClusterFile, "root", FromClusterFile, "jumper@10.9.0.1:22", FromSSHConfig, FromClusterFile}},
		{name: "a hop whose Host block names no User takes the cluster file's login",
			mod: func(c *config.Cluster) {
				c.Nodes[0].Address = "cp-bare-hop"
				c.SSH.User, c.SSH.Given.User = "root", true
			},
			want: want{"10.9.0.12", FromSSHConfig, "22", FromDefault, "root", FromClusterFile, "root@10.9.0.2:22", FromSSHConfig, FromSSHConfig}},
		{name: "a node's own port wins over all",
			mod:  func(c *config.Cluster) { c.Nodes[0].Port = 2200 },
			want: want{"10.9.0.11", FromSSHConfig, "2200", FromNode, "ops", FromSSHConfig, "jumper@10.9.0.1:22", FromSSHConfig, FromSSHConfig}},
		{name: "ssh.jumpHost replaces ssh_config's ProxyJump",
			mod:  func(c *config.Cluster) { c.SSH.JumpHost = "admin@bastion:2022" },
			want: want{"10.9.0.11", FromSSHConfig, "2222", FromSSHConfig, "ops", FromSSHConfig, "admin@bastion:2022", FromClusterFile, FromSSHConfig}},
		{name: "ssh.config none reads nothing: the address and defaults",
			mod:  func(c *config.Cluster) { c.SSH.Config = config.SSHConfigNone },
			want: want{"cp-alias", FromClusterFile, "22", FromDefault, "me", FromDefault, "none", FromDefault, FromDefault}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &config.Cluster{File: filepath.Join(dir, "cluster.yaml"),
				SSH:   config.SSH{User: "me", Port: 22, KnownHosts: filepath.Join(dir, "missing_known_hosts"), Config: cfg},
				Nodes: []config.Node{{Name: "cp-1", Address: "cp-alias"}}}
			if tt.mod != nil {
				tt.mod(c)
			}
			res, _, err := Explain(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			r := res[0]
			got := want{r.HostName.Value, r.HostName.From, r.Port.Value, r.Port.From, r.User.Value, r.User.From, r.ProxyJump.Value, r.ProxyJump.From, r.KnownHosts.From}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if _, err := os.Stat(c.SSH.KnownHosts); err == nil {
				t.Errorf("Explain created %s", c.SSH.KnownHosts)
			}
		})
	}
}
