package nodes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
	"golang.org/x/crypto/ssh"
)

func TestUnknownAndChangedHostKeysAreRefusedWithTheFix(t *testing.T) {
	e := newEnv(t)
	node := nodetest.StartNode(t, "cp-1", e.client.Signer.PublicKey(), nil)
	sshd := nodetest.StartSSHD(t, []nodetest.Key{e.client})
	stranger := nodetest.NewKey(t)
	tests := []struct {
		name        string
		addr        string
		offered     ssh.PublicKey
		known       ssh.PublicKey // nil: host not in known_hosts
		acceptNew   bool
		wantChanged bool
	}{
		{name: "an in-process node missing from known_hosts is refused", addr: node.Addr(), offered: node.HostKey.Signer.PublicKey()},
		{name: "an OpenSSH node missing from known_hosts is refused", addr: sshd.Addr, offered: sshd.HostKey.Signer.PublicKey()},
		{name: "an in-process node with a different recorded key is refused as changed", addr: node.Addr(),
			offered: node.HostKey.Signer.PublicKey(), known: stranger.Signer.PublicKey(), wantChanged: true},
		{name: "an OpenSSH node with a different recorded key is refused as changed", addr: sshd.Addr,
			offered: sshd.HostKey.Signer.PublicKey(), known: stranger.Signer.PublicKey(), wantChanged: true},
		{name: "a changed key is refused even with AcceptNew", addr: sshd.Addr,
			offered: sshd.HostKey.Signer.PublicKey(), known: stranger.Signer.PublicKey(), acceptNew: true, wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := t.TempDir() + "/known_hosts"
			if err := os.WriteFile(known, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if tt.known != nil {
				nodetest.AppendKnownHosts(t, known, tt.addr, tt.known)
			}
			before, _ := os.ReadFile(known)
			host, port := nodetest.HostPort(t, tt.addr)
			r := e.runner(t, []Target{{Name: "cp-1", Host: host, Port: port, User: nodetest.CurrentUser(t)}}, func(p *Params) {
				p.KnownHosts, p.AcceptNew = known, tt.acceptNew
			})
			_, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
			var hke *HostKeyError
			if !errors.As(err, &hke) || hke.Changed() != tt.wantChanged {
				t.Fatalf("want HostKeyError (changed %v), got %v", tt.wantChanged, err)
			}
			p := strconv.Itoa(port)
			wants := []string{"node cp-1", "[" + host + "]:" + p, "ssh-ed25519", ssh.FingerprintSHA256(tt.offered),
				"ssh-keyscan -p " + p + " " + host + " >> " + known}
			if tt.wantChanged {
				wants = append(wants, "HOST KEY CHANGED", "ssh-keygen -R '["+host+"]:"+p+"' -f "+known, ssh.FingerprintSHA256(tt.known))
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
			if after, _ := os.ReadFile(known); string(after) != string(before) {
				t.Errorf("known_hosts changed:\n%s", after)
			}
		})
	}
}

func TestAcceptNewRecordsAnUnknownKeyForLaterStrictRuns(t *testing.T) {
	e := newEnv(t)
	sshd := nodetest.StartSSHD(t, []nodetest.Key{e.client})
	host, port := nodetest.HostPort(t, sshd.Addr)
	targets := []Target{{Name: "cp-1", Host: host, Port: port, User: nodetest.CurrentUser(t)}}
	known := t.TempDir() + "/known_hosts" // missing: AcceptNew creates it
	first := e.runner(t, targets, func(p *Params) { p.KnownHosts, p.AcceptNew = known, true })
	if _, err := first.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(known)
	want := nodetest.KnownHostsLine(sshd.Addr, sshd.HostKey.Signer.PublicKey()) + "\n"
	if string(got) != want {
		t.Fatalf("known_hosts %q, want %q", got, want)
	}
	strict := e.runner(t, targets, func(p *Params) { p.KnownHosts = known })
	if _, err := strict.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
		t.Fatalf("strict run after accept-new: %v", err)
	}
}

func TestAServerWithSeveralHostKeysMatchesWhicheverKnownHostsHolds(t *testing.T) {
	e := newEnv(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var signers []ssh.Signer
	for _, k := range []any{rsaKey, ecKey} {
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		signers = append(signers, s)
	}
	ed := nodetest.NewKey(t).Signer
	signers = append(signers, ed)
	node := nodetest.StartNode(t, "cp-1", e.client.Signer.PublicKey(), func(c *sshserver.Config) { c.HostKeys = signers })
	host, port := nodetest.HostPort(t, node.Addr())
	for _, s := range signers {
		t.Run("known_hosts holds only "+s.PublicKey().Type(), func(t *testing.T) {
			known := t.TempDir() + "/known_hosts"
			nodetest.AppendKnownHosts(t, known, node.Addr(), s.PublicKey())
			r := e.runner(t, []Target{{Name: "cp-1", Host: host, Port: port, User: "ops"}}, func(p *Params) { p.KnownHosts = known })
			if _, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestARotatedHostKeyIsRefusedOnTheNextDial(t *testing.T) {
	e := newEnv(t)
	tg, node := e.inproc(t, "cp-1", nil)
	r := e.runner(t, []Target{tg}, func(p *Params) { p.AcceptNew = true })
	if _, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
		t.Fatal(err)
	}
	node.Server.SetHostKeys(nodetest.NewKey(t).Signer)
	r2 := e.runner(t, []Target{tg}, func(p *Params) { p.AcceptNew = true })
	_, err := r2.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
	var hke *HostKeyError
	if !errors.As(err, &hke) || !hke.Changed() {
		t.Fatalf("want changed host key error, got %v", err)
	}
}

func TestAMissingKnownHostsFileIsAClearError(t *testing.T) {
	e := newEnv(t)
	missing := t.TempDir() + "/known_hosts"
	_, err := New(Params{IdentityFiles: []string{e.keyFile}, KnownHosts: missing})
	if err == nil || !strings.Contains(err.Error(), "known_hosts file "+missing+" does not exist") ||
		!strings.Contains(err.Error(), "ssh-keyscan") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a strict Runner created known_hosts")
	}
}
