package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

// checkFixture is a cluster file naming one node served by a real OpenSSH sshd.
type checkFixture struct {
	dir, file, knownHosts string
	sshd                  *nodetest.SSHD
}

func newCheckFixture(t *testing.T, sshdConfig ...string) checkFixture {
	t.Helper()
	dir := t.TempDir()
	client := nodetest.NewKey(t)
	sshd := nodetest.StartSSHD(t, []nodetest.Key{client}, sshdConfig...)
	host, port := nodetest.HostPort(t, sshd.Addr)
	key := client.WriteFile(t, dir, "id_ed25519", 0o600, "")
	kh := filepath.Join(dir, "known_hosts")
	nodetest.AppendKnownHosts(t, kh, sshd.Addr, sshd.HostKey.Signer.PublicKey())
	snap := filepath.Join(dir, "snapshot.db")
	if err := os.WriteFile(snap, []byte("placeholder: check does not read it"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A control-plane etcd node as check sees one: kubeadm's etcd.yaml and
	// kube-apiserver.yaml in its manifests
	// dir (this sshd runs on this machine, so a temp dir stands for it), and
	// the bastion's tools dir holding the etcdutl and etcdctl of its etcd
	// version (check only names what it would bring; it runs neither).
	manifests := filepath.Join(dir, "manifests")
	tools := filepath.Join(dir, "tools")
	kubeadm := filepath.Join("..", "..", "nodes", "manifest", "testdata")
	etcdYAML, err := os.ReadFile(filepath.Join(kubeadm, "etcd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	apiYAML, err := os.ReadFile(filepath.Join(kubeadm, "kube-apiserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{
		{filepath.Join(manifests, "etcd.yaml"), etcdYAML},
		{filepath.Join(manifests, "kube-apiserver.yaml"), apiYAML},
		{filepath.Join(tools, "etcdutl-v3.6.6"), []byte("stands for the static etcdutl")},
		{filepath.Join(tools, "etcdctl-v3.6.6"), []byte("stands for the static etcdctl")},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, f.data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "cluster.yaml")
	yaml := fmt.Sprintf(`cluster: check-test
snapshot: {path: %s}
etcd: {manifestsDir: %s, toolsDir: %s}
ssh:
  user: %s
  port: %d
  identityFiles: [%s]
  knownHosts: %s
  sudo: false
  connectTimeout: 5s
  config: none
state: {dir: %s}
readiness: {override: [certificates]}  # the node is an SSH server, not a member: no TLS files
nodes:
  - {name: cp-1, address: %s, roles: [control-plane, etcd]}
`, snap, manifests, tools, nodetest.CurrentUser(t), port, key, kh, filepath.Join(dir, "state"), host)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return checkFixture{dir: dir, file: file, knownHosts: kh, sshd: sshd}
}

func TestCheckAgainstOpenSSH(t *testing.T) {
	t.Run("a reachable node with the right host key passes", func(t *testing.T) {
		f := newCheckFixture(t)
		var out, errb bytes.Buffer
		code := run([]string{"check", "-f", f.file, "-o", "json"}, &out, &errb)
		if code != exitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\nsshd log:\n%s", code, &out, &errb, f.sshd.Log())
		}
		var got struct {
			OK    bool
			Nodes []nodeCheck
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, &out)
		}
		n := got.Nodes[0]
		if !got.OK || n.SSH != "ok" || n.OS == "" || n.DiskFree <= 0 {
			t.Errorf("want ssh ok, an OS and free disk reported; got %+v", n)
		}
	})

	t.Run("a wrong known_hosts entry is refused with the fingerprint", func(t *testing.T) {
		f := newCheckFixture(t)
		impostor := nodetest.NewKey(t)
		if err := os.WriteFile(f.knownHosts, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		nodetest.AppendKnownHosts(t, f.knownHosts, f.sshd.Addr, impostor.Signer.PublicKey())
		var out, errb bytes.Buffer
		code := run([]string{"check", "-f", f.file}, &out, &errb)
		if code != exitFailed {
			t.Fatalf("exit %d, want %d\n%s%s", code, exitFailed, &out, &errb)
		}
		text := out.String()
		t.Logf("operator sees:\n%s", text)
		for _, want := range []string{"cp-1", "FAILED", "SHA256:", "ssh-ed25519"} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("without known_hosts plan and print-config work while check refuses until first use creates it", func(t *testing.T) {
		f := newCheckFixture(t)
		if err := os.Remove(f.knownHosts); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"plan", "-f", f.file}, {"check", "-f", f.file, "--print-config"}} {
			var out, errb bytes.Buffer
			if code := run(args, &out, &errb); code != exitOK {
				t.Errorf("%v: exit %d, want 0 (it never opens SSH)\n%s%s", args, code, &out, &errb)
			}
		}
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", f.file}, &out, &errb); code == exitOK {
			t.Fatalf("check without known_hosts passed:\n%s", &out)
		}
		if all := out.String() + errb.String(); !strings.Contains(all, f.knownHosts) || !strings.Contains(all, "does not exist") {
			t.Errorf("the refusal does not name the missing file %s:\n%s", f.knownHosts, all)
		}
		out.Reset()
		errb.Reset()
		if code := run([]string{"check", "-f", f.file, "--accept-new-host-keys"}, &out, &errb); code != exitOK {
			t.Fatalf("check --accept-new-host-keys: exit %d\n%s%s", code, &out, &errb)
		}
		if b, err := os.ReadFile(f.knownHosts); err != nil || !strings.Contains(string(b), "ssh-ed25519") {
			t.Errorf("known_hosts not created with the node's key: %v %q", err, b)
		}
	})

	t.Run("a stale SSH_AUTH_SOCK is a warning and the identity files still do", func(t *testing.T) {
		f := newCheckFixture(t)
		stale := filepath.Join(t.TempDir(), "agent.gone") // as tmux keeps it after the SSH login that made it ended
		t.Setenv("SSH_AUTH_SOCK", stale)
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", f.file}, &out, &errb); code != exitOK {
			t.Fatalf("exit %d with a stale agent socket, want 0\n%s%s", code, &out, &errb)
		}
		if !strings.Contains(errb.String(), "warning: ssh-agent at "+stale) || !strings.Contains(errb.String(), "--no-agent") {
			t.Errorf("no warning naming the stale socket and --no-agent:\n%s", &errb)
		}
		out.Reset()
		errb.Reset()
		if code := run([]string{"check", "-f", f.file, "--no-agent"}, &out, &errb); code != exitOK || strings.Contains(errb.String(), "ssh-agent") {
			t.Errorf("--no-agent: exit %d, stderr:\n%s", code, &errb)
		}
	})

	t.Run("a bad cluster file is exit 2 and touches no node", func(t *testing.T) {
		f := newCheckFixture(t)
		if err := os.WriteFile(f.file, []byte("cluster: x\nnodez: []\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", f.file}, &out, &errb); code != exitUsage {
			t.Fatalf("exit %d, want 2\n%s", code, &errb)
		}
		if !strings.Contains(errb.String(), "did you mean") {
			t.Errorf("want a did-you-mean for nodez:\n%s", &errb)
		}
	})
}
