package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// Issue 19: init --from-node reaches nodes the way every other command does
// (nodes.NewRunner, ssh -G per node and per hop): a Host alias for the
// from-node, and a ProxyJump for every lab address, both only in an
// ssh_config file given with -F; no -l, -p, -i or --known-hosts. (OpenSSH
// matches Host patterns against the name typed, not its HostName, so the
// alias names its own ProxyJump, as a real ~/.ssh/config must.) A jump host
// that refuses to forward makes the same init fail naming it, which proves
// the connections went through it.
func TestInitFromNodeFollowsOpenSSHsConfigurationThroughAJumpHost(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a cold lab build
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 164, Workers: 1, RegisterNodes: true})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	labKey := filepath.Join(l.Dir(), "id_ed25519")
	pem, err := os.ReadFile(labKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := l.Nodes()[0]
	host, port, _ := net.SplitHostPort(cp1.SSHAddr)
	tests := []struct {
		name    string
		forward bool
		wantErr string // "" = init succeeds
	}{
		{name: "a forwarding jump host carries every connection", forward: true},
		{name: "a jump host that refuses to forward fails init naming it", forward: false, wantErr: "jump host bastion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			jump := nodetest.StartNode(t, "bastion", signer.PublicKey(), func(c *sshserver.Config) { c.AllowTCPForwarding = tc.forward })
			jumpKnown := filepath.Join(dir, "bastion_known_hosts")
			if err := os.WriteFile(jumpKnown, []byte(nodetest.KnownHostsLine(jump.Addr(), jump.HostKey.Signer.PublicKey())+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			jh, jp, _ := net.SplitHostPort(jump.Addr())
			cfg := filepath.Join(dir, "ssh_config")
			body := fmt.Sprintf("Host cp-alias\n  HostName %s\n  ProxyJump bastion\n"+
				"Host bastion\n  HostName %s\n  Port %s\n  UserKnownHostsFile %s\n"+
				"Host 127.164.*\n  ProxyJump bastion\n"+
				"Host *\n  User root\n  Port %s\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
				host, jh, jp, jumpKnown, port, labKey, filepath.Join(l.Dir(), "known_hosts"))
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "cluster.yaml")
			args := []string{"init", "--from-node", "cp-alias", "-F", cfg, "--name", "drill",
				"--snapshot", filepath.Join(l.Dir(), "snapshot.db"), "--out", out}
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(stderr.String(), tc.wantErr) {
					t.Fatalf("init through a refusing jump host exited %d, want an error naming %q:\n%s", code, tc.wantErr, stderr.String())
				}
				return
			}
			if code != 0 {
				t.Fatalf("init exited %d:\n%s\n%s", code, stdout.String(), stderr.String())
			}
			t.Logf("init said:\n%s", stdout.String())
			requireFingerprintsShown(t, l, stdout.String())
			cl, _, err := config.Load(out)
			if err != nil {
				t.Fatalf("the written file does not load: %v\n%s", err, readFile(t, out))
			}
			if cl.SSH.Config != cfg || cl.SSH.Given.User || cl.SSH.Given.Port || cl.SSH.Given.IdentityFiles || cl.SSH.Given.KnownHosts {
				t.Errorf("ssh keys %+v: want only ssh.config %s, the rest left to it", cl.SSH, cfg)
			}
			if len(cl.Nodes) != len(l.Nodes()) {
				t.Errorf("nodes %v, want the lab's %d", cl.Nodes, len(l.Nodes()))
			}
			// The file reaches every node the same way: check, through the jump host.
			stdout.Reset()
			stderr.Reset()
			if code := run([]string{"check", "-f", out}, &stdout, &stderr); code != 0 {
				t.Fatalf("check with the init file exited %d:\n%s\n%s", code, tail(stdout.String(), 40), tail(stderr.String(), 20))
			}
		})
	}
}
