package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

// pathWithout is a directory of links to every program in /usr/bin and
// /bin except those named: a node's PATH on which they are not installed.
func pathWithout(t *testing.T, missing ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if slices.Contains(missing, e.Name()) {
				continue
			}
			_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(dir, e.Name())) // first directory wins
		}
	}
	return dir
}

func checkJSON(t *testing.T, file string) (int, []nodeCheck, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run([]string{"check", "-f", file, "-o", "json"}, &out, &errb)
	var got struct{ Nodes []nodeCheck }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Nodes) != 1 {
		t.Fatalf("exit %d, output is not one node's JSON: %v\n%s\nstderr:\n%s", code, err, &out, &errb)
	}
	return code, got.Nodes, errb.String()
}

func TestCheckLooksUpEveryToolTheStepsRunOnTheNode(t *testing.T) {
	tests := []struct {
		name        string
		missing     []string
		wantMissing string
	}{
		{name: "a node with every tool reports each one found"},
		// sshd's SetEnv replaces the login's PATH, as a node whose
		// package is not installed would have it.
		{name: "a node without iproute2 fails naming ss and its package", missing: []string{"ss"}, wantMissing: "ss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.missing != nil {
				extra = []string{"SetEnv PATH=" + pathWithout(t, tt.missing...)}
			}
			f := newCheckFixture(t, extra...)
			code, ns, stderr := checkJSON(t, f.file)
			n := ns[0]
			var names, missing []string
			for _, tc := range n.Tools {
				names = append(names, tc.Name)
				if !tc.Found {
					missing = append(missing, tc.Name)
				}
			}
			// The fixture's node is control-plane and etcd: every tool.
			for _, want := range []string{"timeout", "systemctl", "pgrep", "ss", "curl", "sha256sum", "df"} {
				if !slices.Contains(names, want) {
					t.Errorf("tool %s not reported; got %+v", want, n.Tools)
				}
			}
			if tt.wantMissing == "" {
				if len(missing) > 0 || code != exitOK {
					t.Fatalf("exit %d, missing %v\n%+v\n%s", code, missing, n, stderr)
				}
				return
			}
			if !slices.Equal(missing, []string{tt.wantMissing}) || code == exitOK || n.OK ||
				!strings.Contains(strings.Join(n.Problems, "\n"), "ss not found in the login's PATH; it proves nothing listens on the apiserver or etcd ports (step 1): install iproute2") {
				t.Fatalf("exit %d, missing %v, problems %q", code, missing, n.Problems)
			}
		})
	}
}

// check reaches a node named by an OpenSSH Host alias (HostName, Port from
// the configuration) and shows where SSH went. OpenSSH reads ~/.ssh/config
// from the passwd entry's home, not $HOME, so a temp HOME cannot stand for
// the operator's: the test names its file with ssh.config (ssh -F).
func TestCheckReachesANodeByItsOpenSSHAlias(t *testing.T) {
	dir := t.TempDir()
	client := nodetest.NewKey(t)
	sshd := nodetest.StartSSHD(t, []nodetest.Key{client})
	host, port := nodetest.HostPort(t, sshd.Addr)
	key := client.WriteFile(t, dir, "id_ed25519", 0o600, "")
	kh := filepath.Join(dir, "known_hosts")
	nodetest.AppendKnownHosts(t, kh, sshd.Addr, sshd.HostKey.Signer.PublicKey())
	sshConfig := filepath.Join(dir, ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(sshConfig), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sshConfig, []byte(fmt.Sprintf("Host cp-1.prod\n  HostName %s\n  Port %d\n  IdentityFile %s\n  UserKnownHostsFile %s\n",
		host, port, key, kh)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "snap.db"), []byte("placeholder: check does not read it"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`cluster: alias-test
snapshot: {path: %s}
ssh: {user: %s, sudo: false, config: %s}
state: {dir: %s}
nodes:
  - {name: cp-1, address: cp-1.prod, roles: [control-plane, etcd]}
`, filepath.Join(dir, "snap.db"), nodetest.CurrentUser(t), sshConfig, filepath.Join(dir, "state"))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ns, stderr := checkJSON(t, file)
	n := ns[0]
	if n.SSH != "ok" || n.SSHTarget == nil || n.SSHTarget.Host != host || n.SSHTarget.Port != port {
		t.Fatalf("want ssh ok to %s:%d; got ssh %s to %v, problems %q\n%s", host, port, n.SSH, n.SSHTarget, n.Problems, stderr)
	}
}
