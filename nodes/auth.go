package nodes

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/etcd-dr/etcd-dr/config/safefile"
)

// PassphraseFunc asks the operator for the passphrase of an encrypted
// identity file (the console prompts; headless has none).
type PassphraseFunc func(file string) ([]byte, error)

// ExpandHome replaces a leading "~/" with the user's home directory.
func ExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// maxIdentitySize bounds a private key file: an RSA-16384 key in PEM is
// about 13 KB.
const maxIdentitySize = 1 << 20

// loadIdentity reads one private key file. It refuses files others can read
// (as OpenSSH does) and needs ask for encrypted keys; with haveAgent, an
// encrypted key without ask is skipped (nil, nil): the agent likely holds it.
func loadIdentity(file string, ask PassphraseFunc, haveAgent bool) (ssh.Signer, error) {
	path := ExpandHome(file)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w (fix ssh.identityFiles)", file, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity file %s has permissions %#o: a private key must not be accessible by others; run: chmod 600 %s",
			file, perm, file)
	}
	// A FIFO or device named as the key must not hang or fill memory.
	pem, err := safefile.ReadFile(path, maxIdentitySize)
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", file, err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case !errors.As(err, &missing):
		return nil, fmt.Errorf("identity file %s is not a private key etcd-dr can read: %w", file, err)
	case ask != nil:
		pass, err := ask(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase for %s: %w", file, err)
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		if err != nil {
			return nil, fmt.Errorf("identity file %s: %w", file, err)
		}
		return signer, nil
	case haveAgent:
		return nil, nil
	default:
		// No client of etcd-dr sets ask (the console included): say so,
		// rather than send the operator to a prompt that never comes.
		return nil, fmt.Errorf("identity file %s is encrypted and etcd-dr does not ask for passphrases (the console neither): "+
			"load it into ssh-agent (eval $(ssh-agent); ssh-add %s) and set SSH_AUTH_SOCK, "+
			"or list an unencrypted key (chmod 600) in ssh.identityFiles", file, file)
	}
}

// auth is how the Runner proves who it is: identity files first, then the
// agent's keys.
type auth struct {
	signers []ssh.Signer
	agent   agent.ExtendedAgent
	conn    net.Conn // to the agent; closed by close

	warnings []string // said once to the operator, e.g. a stale agent socket
}

func newAuth(files []string, signers []ssh.Signer, agentSocket string, ask PassphraseFunc) (*auth, error) {
	a := &auth{signers: append([]ssh.Signer(nil), signers...)}
	if agentSocket != "" {
		conn, err := net.Dial("unix", agentSocket)
		if err != nil {
			// A stale socket is what tmux reattached from another SSH
			// login leaves behind: the identity files may still do.
			a.warnings = append(a.warnings, fmt.Sprintf("ssh-agent at %s (SSH_AUTH_SOCK) does not answer (%v): going on without it; "+
				"after reattaching tmux, refresh it with: eval \"$(tmux show-environment -s SSH_AUTH_SOCK)\", or pass --no-agent", agentSocket, errors.Unwrap(err)))
		} else {
			a.conn, a.agent = conn, agent.NewClient(conn)
		}
	}
	for _, f := range files {
		s, err := loadIdentity(f, ask, a.agent != nil)
		if err != nil {
			a.close()
			return nil, err
		}
		if s != nil {
			a.signers = append(a.signers, s)
		}
	}
	if len(a.signers) == 0 && a.agent == nil {
		msg := "no SSH identity: set ssh.identityFiles or start ssh-agent (SSH_AUTH_SOCK)"
		if len(a.warnings) > 0 {
			msg += "; " + a.warnings[0]
		}
		return nil, errors.New(msg)
	}
	return a, nil
}

func (a *auth) methods() []ssh.AuthMethod {
	return []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		out := append([]ssh.Signer(nil), a.signers...)
		if a.agent != nil {
			more, err := a.agent.Signers()
			if err != nil {
				return out, nil // the agent went away: the files may still do
			}
			out = append(out, more...)
		}
		return out, nil
	})}
}

func (a *auth) close() {
	if a.conn != nil {
		_ = a.conn.Close()
	}
}

// describe lists the keys offered, for "refused" messages.
func (a *auth) describe() string {
	var parts []string
	for _, s := range a.signers {
		parts = append(parts, s.PublicKey().Type()+" "+ssh.FingerprintSHA256(s.PublicKey()))
	}
	if a.agent != nil {
		parts = append(parts, "the keys in ssh-agent")
	}
	return strings.Join(parts, ", ")
}
