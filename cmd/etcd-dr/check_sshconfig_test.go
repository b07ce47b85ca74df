package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Issue 19: check --print-config and plan show what OpenSSH's configuration
// resolved for each node and where each value came from, without opening
// SSH (nothing listens at these addresses, and no known_hosts exists).
func TestPrintConfigAndPlanShowWhatSSHConfigResolvedPerNode(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ops")
	snap := filepath.Join(dir, "snapshot.db")
	for _, f := range []string{key, snap} {
		if err := os.WriteFile(f, []byte("never read by print-config or plan"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sshCfg := filepath.Join(dir, "ssh_config")
	if err := os.WriteFile(sshCfg, []byte(fmt.Sprintf(`Host cp-1.prod
  HostName 10.9.0.11
  User ops
  IdentityFile %s
  ProxyJump bastion
Host bastion
  HostName 10.9.0.1
  Port 2022
`, key)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(`cluster: prod
snapshot: {path: %s}
ssh: {config: %s, knownHosts: %s}
state: {dir: %s}
nodes:
  - {name: cp-1, address: cp-1.prod, roles: [control-plane, etcd]}
  - {name: w-1, address: 10.9.0.21, port: 2200, roles: [worker]}
`, snap, sshCfg, filepath.Join(dir, "no_known_hosts"), filepath.Join(dir, "state"))), 0o600); err != nil {
		t.Fatal(err)
	}
	wantLines := [][]string{
		{"cp-1 (cp-1.prod)"},
		{"HostName", "10.9.0.11", "ssh_config"},
		{"User", "ops", "ssh_config"},
		{"IdentityFile", key, "ssh_config"},
		{"ProxyJump", "@10.9.0.1:2022", "ssh_config"},
		{"UserKnownHostsFile", filepath.Join(dir, "no_known_hosts"), "cluster file"},
		{"w-1 (10.9.0.21)"},
		{"HostName", "10.9.0.21", "cluster file"},
		{"Port", "2200", "cluster file (node)"},
		{"ProxyJump", "none", "default"},
	}
	tests := []struct {
		name string
		args []string
		yaml bool // the output stays one YAML document
	}{
		{name: "check --print-config", args: []string{"check", "-f", file, "--print-config"}, yaml: true},
		{name: "plan", args: []string{"plan", "-f", file}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != exitOK {
				t.Fatalf("exit %d, want 0 (no SSH is opened)\n%s%s", code, &out, &errb)
			}
			lines := strings.Split(out.String(), "\n")
			at := 0 // each wanted line after the previous one
			for _, w := range wantLines {
				for at < len(lines) && !hasAll(lines[at], w) {
					at++
				}
				if at == len(lines) {
					t.Fatalf("no line with %q in order:\n%s", w, out.String())
				}
			}
			if tt.yaml {
				var doc map[string]any
				if err := yaml.Unmarshal(out.Bytes(), &doc); err != nil || doc["cluster"] != "prod" {
					t.Errorf("--print-config is no longer one YAML document: %v", err)
				}
			}
		})
	}
}

func hasAll(line string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(line, w) {
			return false
		}
	}
	return true
}
