package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// Issue 19's item 1 on the lab: init, given only the lab's SSH key and
// known_hosts (from-node) or its admin kubeconfig, writes a cluster file
// with which `etcd-dr run --headless` restores the lab and lab verify holds.
// The lab's nodes register Node objects and mirror pods before the snapshot,
// as kubelets do, so from-node finds the worker in the snapshot.
func TestInitWritesAClusterFileThatRestoresTheLab(t *testing.T) {
	tests := []struct {
		name  string
		block int
		args  func(l *lab.Lab, port string) []string
		from  string // the Source the header names
	}{
		{name: "from a control-plane node over SSH when the API is gone", block: 225,
			args: func(l *lab.Lab, port string) []string {
				return []string{"--from-node", "root@" + l.Nodes()[0].Addr, "-p", port,
					"-i", filepath.Join(l.Dir(), "id_ed25519"), "--known-hosts", filepath.Join(l.Dir(), "known_hosts")}
			}, from: "over SSH and the Node objects in"},
		{name: "through a kubeconfig while the cluster is healthy", block: 226,
			args: func(l *lab.Lab, port string) []string {
				return []string{"--kubeconfig", filepath.Join(l.Dir(), lab.AdminKubeconfig), "-l", "root", "-p", port,
					"-i", filepath.Join(l.Dir(), "id_ed25519"), "--known-hosts", filepath.Join(l.Dir(), "known_hosts")}
			}, from: "from the API"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", t.TempDir())
			t.Setenv("SSH_AUTH_SOCK", "")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a cold lab build
			defer cancel()
			l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: tc.block, Workers: 1, RegisterNodes: true})
			if err != nil {
				t.Fatalf("lab up: %v", err)
			}
			t.Cleanup(func() {
				if err := l.Down(); err != nil {
					t.Errorf("lab down: %v", err)
				}
			})
			_, port, _ := net.SplitHostPort(l.Nodes()[0].SSHAddr)
			out := filepath.Join(t.TempDir(), "cluster.yaml")
			args := append([]string{"init", "--name", "drill", "--snapshot", filepath.Join(l.Dir(), "snapshot.db"), "--out", out}, tc.args(l, port)...)
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != 0 {
				t.Fatalf("init exited %d:\n%s\n%s", code, stdout.String(), stderr.String())
			}
			t.Logf("init said:\n%s", stdout.String())
			requireFingerprintsShown(t, l, stdout.String())
			for _, w := range []string{"keep the file beside the backups", tc.from} {
				if !strings.Contains(stdout.String()+readFile(t, out), w) {
					t.Errorf("init did not say %q", w)
				}
			}
			cl, _, err := config.Load(out)
			if err != nil {
				t.Fatalf("the written file does not load: %v\n%s", err, readFile(t, out))
			}
			want := map[string]string{}
			for _, n := range l.Nodes() {
				want[n.Name] = strings.Join(n.Roles, ",")
			}
			got := map[string]string{}
			for _, n := range cl.Nodes {
				got[n.Name] = strings.Join(n.Roles, ",")
			}
			if len(got) != len(want) {
				t.Errorf("nodes %v, want %v", got, want)
			}
			for name, roles := range want {
				if got[name] != roles {
					t.Errorf("node %s: roles %q, want %q", name, got[name], roles)
				}
			}
			if code := run(args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "never overwrites") {
				t.Errorf("a second init over the file exited %d: %s", code, stderr.String())
			}
			stdout.Reset()
			stderr.Reset()
			if code := run([]string{"run", "-f", out, "--headless", "--confirm", "drill"}, &stdout, &stderr); code != 0 {
				t.Fatalf("run --headless with the init file exited %d:\n%s\n%s", code, tail(stdout.String(), 40), tail(stderr.String(), 20))
			}
			rep, err := lab.Verify(context.Background(), l.Dir())
			if err != nil {
				t.Fatalf("lab verify: %v", err)
			}
			if !rep.OK() {
				for _, c := range rep.Checks {
					if !c.OK {
						t.Errorf("lab verify: %s: %s", c.Name, c.Detail)
					}
				}
			}
		})
	}
}

// requireFingerprintsShown: every node's host key fingerprint is printed.
func requireFingerprintsShown(t *testing.T, l *lab.Lab, out string) {
	t.Helper()
	kh := readFile(t, filepath.Join(l.Dir(), "known_hosts"))
	for _, line := range strings.Split(strings.TrimSpace(kh), "\n") {
		_, _, key, _, _, err := ssh.ParseKnownHosts([]byte(line))
		if err != nil {
			t.Fatalf("known_hosts: %v", err)
		}
		if fp := ssh.FingerprintSHA256(key); !strings.Contains(out, fp) {
			t.Errorf("host key %s (%s) not shown to the operator", fp, strings.Fields(line)[0])
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
