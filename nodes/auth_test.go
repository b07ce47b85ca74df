package nodes

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
)

func TestIdentitiesAndAgentAuthenticateAgainstOpenSSH(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.sshd(t, "cp-1")
	dir := t.TempDir()
	encrypted := e.client.WriteFile(t, dir, "id_encrypted", 0o600, "correct horse")
	askRight := func(string) ([]byte, error) { return []byte("correct horse"), nil }
	tests := []struct {
		name   string
		params func(p *Params)
	}{
		{name: "an unencrypted key file logs in", params: func(p *Params) {}},
		{name: "an encrypted key file logs in with the passphrase hook", params: func(p *Params) {
			p.IdentityFiles, p.Passphrase = []string{encrypted}, askRight
		}},
		{name: "the agent alone logs in", params: func(p *Params) {
			p.IdentityFiles, p.AgentSocket = nil, nodetest.StartAgent(t, e.client)
		}},
		{name: "an encrypted key without a hook is left to the agent, which logs in", params: func(p *Params) {
			p.IdentityFiles, p.AgentSocket = []string{encrypted}, nodetest.StartAgent(t, e.client)
		}},
		{name: "a wrong key file is skipped when the agent holds the right key", params: func(p *Params) {
			p.IdentityFiles = []string{nodetest.NewKey(t).WriteFile(t, t.TempDir(), "id_other", 0o600, "")}
			p.AgentSocket = nodetest.StartAgent(t, e.client)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.runner(t, []Target{tg}, tt.params)
			res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"id", "-un"}}, nil)
			if err != nil || strings.TrimSpace(res.Stdout) != tg.User {
				t.Fatalf("got %q, %v", res.Stdout, err)
			}
		})
	}
}

func TestIdentityProblemsAreClearErrorsBeforeAnyDial(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	loose := e.client.WriteFile(t, dir, "id_loose", 0o644, "")
	encrypted := e.client.WriteFile(t, dir, "id_encrypted", 0o600, "pw")
	fifo := filepath.Join(dir, "id_fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		ask   PassphraseFunc
		want  string
	}{
		{name: "a key readable by others is refused with the chmod fix", files: []string{loose},
			want: "has permissions 0644: a private key must not be accessible by others; run: chmod 600 " + loose},
		{name: "an encrypted key without an agent says what to do, and that no prompt comes", files: []string{encrypted},
			want: "identity file " + encrypted + " is encrypted and etcd-dr does not ask for passphrases (the console neither): " +
				"load it into ssh-agent (eval $(ssh-agent); ssh-add " + encrypted + ") and set SSH_AUTH_SOCK, or list an unencrypted key (chmod 600)"},
		{name: "a FIFO named as the key is refused, not waited on", files: []string{fifo}, want: fifo + ": not a regular file: it is a named pipe (FIFO)"},
		{name: "a wrong passphrase names the file", files: []string{encrypted},
			ask: func(string) ([]byte, error) { return []byte("nope"), nil }, want: "identity file " + encrypted},
		{name: "a cancelled passphrase prompt names the file", files: []string{encrypted},
			ask: func(string) ([]byte, error) { return nil, errors.New("cancelled") }, want: "passphrase for " + encrypted + ": cancelled"},
		{name: "a missing key file names the setting to fix", files: []string{dir + "/nope"}, want: "fix ssh.identityFiles"},
		{name: "no identity at all says what to set", want: "no SSH identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Params{IdentityFiles: tt.files, Passphrase: tt.ask, KnownHosts: e.known})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAnUnauthorizedKeyIsRefusedNamingUserAndKey(t *testing.T) {
	e := newEnv(t)
	tg, _ := e.sshd(t, "cp-1")
	other := nodetest.NewKey(t)
	r := e.runner(t, []Target{tg}, func(p *Params) {
		p.IdentityFiles = []string{other.WriteFile(t, t.TempDir(), "id_other", 0o600, "")}
	})
	_, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "user "+tg.User+" was refused with every key offered") ||
		!strings.Contains(err.Error(), "check ssh.user and the node's authorized_keys") {
		t.Fatalf("got %v", err)
	}
}
