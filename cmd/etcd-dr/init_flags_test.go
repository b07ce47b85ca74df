package main

import (
	"io"
	"testing"
)

// init's flags become a cluster file's ssh keys: only what the operator
// gave counts as set (it wins over ssh_config and is written); the user@
// and :port of --from-node count as -l and -p.
func TestInitFlagsBecomeTheClusterFilesSSHKeys(t *testing.T) {
	tests := []struct {
		name             string
		from             string
		given            []string // flags the operator gave
		user             string
		port             int
		wantHost         string
		wantUser         string // "" = not given
		wantPort         int    // 0 = not given
		wantUsageErrText bool
	}{
		{name: "an alias alone leaves every key to ssh_config", from: "cp-1", wantHost: "cp-1"},
		{name: "user and port in --from-node are given", from: "root@cp-1:2222", wantHost: "cp-1", wantUser: "root", wantPort: 2222},
		{name: "an IPv6 address with its port", from: "[fd00::11]:2200", wantHost: "fd00::11", wantPort: 2200},
		{name: "-l and -p are given", from: "10.0.0.11", given: []string{"user", "port"}, user: "ops", port: 22,
			wantHost: "10.0.0.11", wantUser: "ops", wantPort: 22},
		{name: "an empty user is refused", from: "@cp-1", wantUsageErrText: true},
		{name: "a bad port is refused", from: "cp-1:99999", wantUsageErrText: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := initFlags{fromNode: tt.from, user: tt.user, port: 22, knownHosts: "~/.ssh/known_hosts"}
			if tt.port != 0 {
				f.port = tt.port
			}
			f.set = func(flag string) bool {
				for _, g := range tt.given {
					if g == flag {
						return true
					}
				}
				return false
			}
			err := f.sshSettings(io.Discard)
			if tt.wantUsageErrText {
				if err == nil {
					t.Fatalf("--from-node %q accepted: %+v", tt.from, f.cs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := f.cs.Given
			if f.fromHost != tt.wantHost || g.User != (tt.wantUser != "") || g.Port != (tt.wantPort != 0) ||
				(g.User && f.cs.User != tt.wantUser) || (g.Port && f.cs.Port != tt.wantPort) || g.IdentityFiles || g.KnownHosts {
				t.Errorf("host %q, ssh %+v; want host %q user %q port %d", f.fromHost, f.cs, tt.wantHost, tt.wantUser, tt.wantPort)
			}
		})
	}
}
