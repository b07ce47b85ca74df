package nodes

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
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

// auth is how the Runner proves who it is: identity files (with their
// certificates) first, then the agent's keys.
type auth struct {
	signers []ssh.Signer       // Params.Signers, then Params.IdentityFiles
	certs   []*ssh.Certificate // beside Params.IdentityFiles (KEY-cert.pub)
	// files holds each target's own identity files and certificates
	// (ssh_config), loaded once per path; a nil signer was skipped.
	files     map[string]ssh.Signer
	fileCerts map[string]*ssh.Certificate
	agent     agent.ExtendedAgent
	conn      net.Conn // to the agent; closed by close
	ask       PassphraseFunc

	warnings []string // said once to the operator, e.g. a stale agent socket
}

func newAuth(files []string, signers []ssh.Signer, agentSocket string, ask PassphraseFunc) (*auth, error) {
	a := &auth{signers: append([]ssh.Signer(nil), signers...), ask: ask,
		files: map[string]ssh.Signer{}, fileCerts: map[string]*ssh.Certificate{}}
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
		// OpenSSH offers KEY-cert.pub with KEY when it exists.
		if c, err := loadCertificate(ExpandHome(f) + "-cert.pub"); err == nil {
			a.certs = append(a.certs, c)
		} else if !errors.Is(err, fs.ErrNotExist) {
			a.warnings = append(a.warnings, err.Error()+": offering the key without it")
		}
	}
	return a, nil
}

// addTarget loads t's own identity files and certificates (ssh_config's).
// One that cannot be used is skipped with a warning, as OpenSSH skips it:
// the next key or the agent may still do.
func (a *auth) addTarget(t Target) {
	for _, f := range t.Identities {
		if _, done := a.files[f]; done {
			continue
		}
		s, err := loadIdentity(f, a.ask, a.agent != nil)
		if err != nil {
			a.warnings = append(a.warnings, fmt.Sprintf("%s (IdentityFile in OpenSSH's configuration for %s): skipped: %v", f, t.Name, err))
		}
		a.files[f] = s
		if c, err := loadCertificate(f + "-cert.pub"); err == nil {
			a.fileCerts[f+"-cert.pub"] = c
		}
	}
	for _, f := range t.Certificates {
		if _, done := a.fileCerts[f]; done {
			continue
		}
		c, err := loadCertificate(f)
		if err != nil {
			a.warnings = append(a.warnings, fmt.Sprintf("CertificateFile for %s: skipped: %v", t.Name, err))
		}
		a.fileCerts[f] = c
	}
}

// keys are the signers and certificates t offers besides the agent's.
func (a *auth) keys(t Target) ([]ssh.Signer, []*ssh.Certificate) {
	if t.Identities == nil {
		return a.signers, uniqueCerts(append(append([]*ssh.Certificate(nil), a.certs...), a.named(t.Certificates)...))
	}
	var out []ssh.Signer
	var certs []*ssh.Certificate
	for _, f := range t.Identities {
		if s := a.files[f]; s != nil {
			out = append(out, s)
		}
		certs = append(certs, a.named([]string{f + "-cert.pub"})...)
	}
	return out, uniqueCerts(append(certs, a.named(t.Certificates)...))
}

// uniqueCerts drops a certificate named twice (KEY-cert.pub beside the key
// and as CertificateFile), offered once.
func uniqueCerts(certs []*ssh.Certificate) []*ssh.Certificate {
	var out []*ssh.Certificate
	seen := map[string]bool{}
	for _, c := range certs {
		if k := string(c.Marshal()); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

func (a *auth) named(files []string) []*ssh.Certificate {
	var out []*ssh.Certificate
	for _, f := range files {
		if c := a.fileCerts[f]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

// usable reports whether t has something to offer: a key or the agent.
func (a *auth) usable(t Target) error {
	if s, _ := a.keys(t); len(s) > 0 || a.agent != nil {
		return nil
	}
	msg := "no SSH identity: set ssh.identityFiles or start ssh-agent (SSH_AUTH_SOCK)"
	if t.Identities != nil {
		msg = "no SSH identity for " + t.Name + ": none of its IdentityFiles in OpenSSH's configuration could be used; set ssh.identityFiles or start ssh-agent (SSH_AUTH_SOCK)"
	}
	if len(a.warnings) > 0 {
		msg += "; " + a.warnings[0]
	}
	return errors.New(msg)
}

// methods offers t's certificates first (each with the file or agent key it
// certifies, as OpenSSH does), then its keys, then the agent's.
func (a *auth) methods(t Target) []ssh.AuthMethod {
	return []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
		keys, certs := a.keys(t)
		keys = append([]ssh.Signer(nil), keys...)
		if a.agent != nil {
			if more, err := a.agent.Signers(); err == nil {
				keys = append(keys, more...) // the agent went away: the files may still do
			}
		}
		var out []ssh.Signer
		for _, c := range certs {
			for _, k := range keys {
				if bytes.Equal(k.PublicKey().Marshal(), c.Key.Marshal()) {
					if cs, err := ssh.NewCertSigner(c, k); err == nil {
						out = append(out, cs)
					}
					break
				}
			}
		}
		return append(out, keys...), nil
	})}
}

// loadCertificate reads an OpenSSH user certificate (KEY-cert.pub).
func loadCertificate(file string) (*ssh.Certificate, error) {
	b, err := safefile.ReadFile(file, maxIdentitySize)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: %w", file, err)
	}
	c, ok := pub.(*ssh.Certificate)
	if !ok || c.CertType != ssh.UserCert {
		return nil, fmt.Errorf("certificate %s is not an OpenSSH user certificate", file)
	}
	return c, nil
}

func (a *auth) close() {
	if a.conn != nil {
		_ = a.conn.Close()
	}
}

// describe lists the keys t offers, for "refused" messages.
func (a *auth) describe(t Target) string {
	var parts []string
	keys, certs := a.keys(t)
	for _, c := range certs {
		parts = append(parts, "certificate "+c.KeyId+" for "+c.Key.Type()+" "+ssh.FingerprintSHA256(c.Key))
	}
	for _, s := range keys {
		parts = append(parts, s.PublicKey().Type()+" "+ssh.FingerprintSHA256(s.PublicKey()))
	}
	if a.agent != nil {
		parts = append(parts, "the keys in ssh-agent")
	}
	return strings.Join(parts, ", ")
}
