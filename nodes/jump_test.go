package nodes

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

func TestCommandsReachANodeThroughTheJumpHost(t *testing.T) {
	e := newEnv(t)
	node, _ := e.sshd(t, "cp-1")
	tests := []struct {
		name    string
		jumpCfg string
		wantErr string
	}{
		{name: "an OpenSSH jump host that forwards carries the connection", jumpCfg: "AllowTcpForwarding yes"},
		// Proves the path: the same node is unreachable when the jump host
		// refuses to forward.
		{name: "an OpenSSH jump host that refuses forwarding fails naming the jump host", jumpCfg: "AllowTcpForwarding no",
			wantErr: "connect to node cp-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jumpTarget, _ := e.sshd(t, "bastion", tt.jumpCfg)
			r := e.runner(t, []Target{node}, func(p *Params) { p.Jump = &jumpTarget })
			res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "via jump"}}, nil)
			if tt.wantErr == "" {
				if err != nil || res.Stdout != "via jump\n" {
					t.Fatalf("got %q %v", res.Stdout, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "through bastion") {
				t.Fatalf("got %v, want it to contain %q and the jump host", err, tt.wantErr)
			}
		})
	}
}

func TestAnInProcessJumpHostCarriesTheConnection(t *testing.T) {
	e := newEnv(t)
	node, _ := e.inproc(t, "cp-1", nil)
	jump, _ := e.inproc(t, "bastion", func(c *sshserver.Config) { c.AllowTCPForwarding = true })
	r := e.runner(t, []Target{node}, func(p *Params) { p.Jump = &jump })
	res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "ok"}}, nil)
	if err != nil || res.Stdout != "ok\n" {
		t.Fatalf("got %q %v", res.Stdout, err)
	}
}

func TestParseJumpHost(t *testing.T) {
	tests := []struct {
		name, in string
		want     Target
		wantErr  bool
	}{
		{name: "a bare host uses the default user and port 22", in: "bastion", want: Target{Host: "bastion", Port: 22, User: "ops"}},
		{name: "user and port are read", in: "admin@bastion:2222", want: Target{Host: "bastion", Port: 2222, User: "admin"}},
		{name: "an IPv6 address in brackets keeps its port", in: "[::1]:2200", want: Target{Host: "::1", Port: 2200, User: "ops"}},
		{name: "a bad port is an error", in: "bastion:99999", wantErr: true},
		{name: "an empty host is an error", in: "admin@", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJumpHost(tt.in, "ops")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			got.Name = ""
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewRunnerReadsTheClusterFile(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.inproc(t, "cp-1", nil)
	jump, _ := e.inproc(t, "bastion", func(c *sshserver.Config) { c.AllowTCPForwarding = true })
	c := &config.Cluster{
		File: "cluster.yaml",
		SSH: config.SSH{User: "ops", Port: 22, IdentityFiles: []string{e.keyFile}, KnownHosts: e.known,
			JumpHost: "jumper@" + jump.Addr(), Concurrency: 4, Config: config.SSHConfigNone},
		Nodes: []config.Node{{Name: "cp-1", Address: tg.Host, Port: tg.Port, Roles: []string{config.RoleControlPlane}}},
	}
	r, err := NewRunner(c, Options{NoAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "hi"}}, nil)
	if err != nil || res.Stdout != "hi\n" {
		t.Fatalf("got %q %v", res.Stdout, err)
	}
	if r.p.Jump.User != "jumper" || r.nodes["cp-1"].User != "ops" || r.p.Concurrency != 4 {
		t.Fatalf("params %+v", r.p)
	}
}
