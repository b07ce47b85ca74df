package nodes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ResolveSSHConfig against the real OpenSSH client's -G: Host aliases,
// Include, Match, ProxyJump, UserKnownHostsFile and key files resolved by
// OpenSSH itself, exactly as `ssh cp-1` would use them.
func TestResolveSSHConfigFollowsOpenSSH(t *testing.T) {
	dir := t.TempDir()
	ecdsa := filepath.Join(dir, "id_ecdsa")
	cert := filepath.Join(dir, "id_ecdsa-cert.pub")
	for _, f := range []string{ecdsa, cert} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inc := filepath.Join(dir, "cluster.conf")
	write(t, inc, "Host cp-*\n  User ops\n  Port 2222\n  IdentityFile "+ecdsa+"\n  CertificateFile "+cert+
		"\n  UserKnownHostsFile "+filepath.Join(dir, "kh")+"\n  ProxyJump jump@bastion:2200\n"+
		"Host cp-1\n  HostName 10.0.0.11\n")
	cfg := filepath.Join(dir, "config")
	write(t, cfg, "Include "+inc+"\nMatch host 10.0.0.12\n  User matched\nHost *\n  IdentityFile "+filepath.Join(dir, "absent")+"\n")
	tests := []struct {
		name, host string
		want       SSHConfig
	}{
		{"an alias from an included file, with its key, certificate, known_hosts and jump", "cp-1",
			SSHConfig{HostName: "10.0.0.11", User: "ops", Port: 2222, Identities: []string{ecdsa}, Certificate: []string{cert},
				ProxyJump: "jump@bastion:2200"}},
		{"a Match block on the resolved address", "10.0.0.12",
			SSHConfig{HostName: "10.0.0.12", User: "matched", Port: 22}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveSSHConfig(context.Background(), cfg, tc.host)
			if err != nil {
				t.Fatal(err)
			}
			if got.HostName != tc.want.HostName || got.User != tc.want.User || got.Port != tc.want.Port ||
				!slices.Equal(got.Identities, tc.want.Identities) || !slices.Equal(got.Certificate, tc.want.Certificate) ||
				got.ProxyJump != tc.want.ProxyJump {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			if tc.host == "cp-1" && (len(got.KnownHosts) == 0 || got.KnownHosts[0] != filepath.Join(dir, "kh")) {
				t.Errorf("known_hosts files %v, want %s first", got.KnownHosts, filepath.Join(dir, "kh"))
			}
		})
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
