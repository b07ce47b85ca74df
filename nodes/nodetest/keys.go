// Package nodetest holds test helpers for SSH against real servers: key
// files, known_hosts files, an ssh-agent, in-process nodes (sshserver) and
// Debian's OpenSSH sshd started on a loopback port. Tests of nodes/ use it;
// so can `etcd-dr check` tests.
package nodetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Key is a fresh ed25519 key pair.
type Key struct {
	Signer  ssh.Signer
	Private ed25519.PrivateKey
}

// NewKey generates a key pair.
func NewKey(t testing.TB) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: s, Private: priv}
}

// Public is the key in authorized_keys format (one line, no newline).
func (k Key) Public() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.Signer.PublicKey())))
}

// WriteFile writes the private key in OpenSSH format to dir/name with
// mode perm, encrypted when passphrase is not empty, and returns its path.
func (k Key) WriteFile(t testing.TB, dir, name string, perm os.FileMode, passphrase string) string {
	t.Helper()
	var (
		block *pem.Block
		err   error
	)
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(k.Private, "etcd-dr test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k.Private, "etcd-dr test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile's perm is masked by umask
		t.Fatal(err)
	}
	return path
}

// KnownHostsLine is the known_hosts line for addr (host:port; non-22 ports
// become [host]:port) and key.
func KnownHostsLine(addr string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
}

// AppendKnownHosts appends lines for addr and each key to file (created if
// missing).
func AppendKnownHosts(t testing.TB, file, addr string, keys ...ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, k := range keys {
		if _, err := f.WriteString(KnownHostsLine(addr, k) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// HostPort splits addr, failing the test on error.
func HostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

// CurrentUser is the login name tests use on the sshd they start.
func CurrentUser(t testing.TB) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
