package nodes

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a host key etcd-dr refused: unknown to known_hosts, or
// different from the one recorded there. Its message says how to fix it.
type HostKeyError struct {
	Node        string
	Host        string // as written in known_hosts: host, or [host]:port
	Port        string
	File        string
	KeyType     string // offered by the server
	Fingerprint string // SHA256:... of the offered key
	// Known lists the keys known_hosts holds for the host; empty when the
	// host is unknown.
	Known []knownhosts.KnownKey
}

// Changed reports whether known_hosts holds a different key for the host:
// a possible man in the middle, or a rebuilt node.
func (e *HostKeyError) Changed() bool { return len(e.Known) > 0 }

func (e *HostKeyError) Error() string {
	hostArg := knownhosts.Normalize(net.JoinHostPort(e.Host, e.Port))
	scan := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", e.Port, e.Host, e.File)
	if !e.Changed() {
		return fmt.Sprintf("node %s: host key of %s is not in %s (server offers %s %s); "+
			"verify that fingerprint out of band (on the node: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "+
			"then run: %s (or accept new host keys explicitly)",
			e.Node, hostArg, e.File, e.KeyType, e.Fingerprint, scan)
	}
	k := e.Known[0]
	return fmt.Sprintf("node %s: HOST KEY CHANGED for %s: server offers %s %s but %s:%d holds %s %s; "+
		"someone may be intercepting the connection, or the node was rebuilt; verify the new fingerprint out of band, "+
		"and only if the change is expected run: ssh-keygen -R '%s' -f %s && %s",
		e.Node, hostArg, e.KeyType, e.Fingerprint, k.Filename, k.Line, k.Key.Type(),
		ssh.FingerprintSHA256(k.Key), hostArg, e.File, scan)
}

// hostKeys checks server host keys against one known_hosts file, strictly.
// With acceptNew, keys of hosts the file does not know are appended (like
// StrictHostKeyChecking=accept-new); a changed key is never accepted.
type hostKeys struct {
	file      string   // AcceptNew writes here
	read      []string // file (when it exists), then read-only ones
	acceptNew bool

	mu sync.Mutex // serializes appends and reloads; not held while checking
	db ssh.HostKeyCallback

	// probe is a key no known_hosts can hold, made once: algorithms asks
	// the file about it for every dial.
	probeOnce sync.Once
	probe     ssh.PublicKey

	beforeRecord func() // test hook: between the unlocked check and the locked one

	// seen, when set, hears every host key that passed (or was recorded):
	// `etcd-dr init` prints each fingerprint for the operator to compare.
	seen func(node, addr string, key ssh.PublicKey)
	// recorded hears each key --accept-new-host-keys wrote to the file, so
	// the operator is shown its fingerprint to compare.
	recorded func(node, addr string, key ssh.PublicKey)
}

// current is the database to check against; appendKey replaces it.
func (h *hostKeys) current() ssh.HostKeyCallback {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.db
}

// newHostKeys reads known_hosts files: the first is the one AcceptNew
// writes (the cluster file's ssh.knownHosts, or OpenSSH's first
// UserKnownHostsFile); the others (the rest of UserKnownHostsFile, then
// GlobalKnownHostsFile) are read when they exist, never written.
func newHostKeys(files []string, acceptNew bool) (*hostKeys, error) {
	if len(files) == 0 || files[0] == "" {
		return nil, errors.New("no known_hosts file configured (ssh.knownHosts); etcd-dr checks every host key")
	}
	file := files[0]
	var others []string
	for _, f := range files[1:] {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && f != file {
			others = append(others, f)
		}
	}
	_, err := os.Stat(file)
	if errors.Is(err, os.ErrNotExist) && !acceptNew && len(others) == 0 {
		return nil, fmt.Errorf("known_hosts file %s does not exist: record each node's host key first "+
			"(ssh-keyscan -p PORT HOST >> %s, after verifying the fingerprints out of band), or accept new host keys explicitly", file, file)
	}
	read := others
	if errors.Is(err, os.ErrNotExist) && acceptNew {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create known_hosts %s: %w", file, err)
		}
		_ = f.Close()
	}
	if _, err := os.Stat(file); err == nil {
		read = append([]string{file}, others...)
	}
	db, err := knownhosts.New(read...)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w (create it with ssh-keyscan, or fix the line named)", strings.Join(read, ", "), err)
	}
	return &hostKeys{file: file, read: read, acceptNew: acceptNew, db: db}, nil
}

// callback checks the key of node at addr (host:port).
func (h *hostKeys) callback(node string) ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		err := h.check(node, addr, remote, key)
		if err == nil && h.seen != nil {
			h.seen(node, addr, key)
		}
		return err
	}
}

func (h *hostKeys) check(node, addr string, remote net.Addr, key ssh.PublicKey) error {
	// The scan is linear in the file: a fan-out over many nodes must not
	// queue on a lock for it. Only recording a new key takes the lock,
	// and checks again under it, so a key another dial just recorded is
	// compared, never appended twice.
	err := h.current()(addr, remote, key)
	var ke *knownhosts.KeyError
	if err == nil || !errors.As(err, &ke) || !h.acceptNew {
		return h.keyErr(node, addr, key, err)
	}
	if h.beforeRecord != nil {
		h.beforeRecord()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keyErr(node, addr, key, h.db(addr, remote, key))
}

// keyErr turns knownhosts' verdict into a HostKeyError, recording the key
// of an unknown host when new keys are accepted (h.mu held then).
func (h *hostKeys) keyErr(node, addr string, key ssh.PublicKey, err error) error {
	var ke *knownhosts.KeyError
	if err == nil || !errors.As(err, &ke) {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	hke := &HostKeyError{Node: node, Host: host, Port: port, File: h.file,
		KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key), Known: ke.Want}
	if hke.Changed() || !h.acceptNew {
		return hke
	}
	if err := h.appendKey(addr, key); err != nil {
		return err
	}
	if h.recorded != nil {
		h.recorded(node, addr, key)
	}
	return nil
}

func (h *hostKeys) appendKey(addr string, key ssh.PublicKey) error {
	f, err := os.OpenFile(h.file, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("record new host key of %s in %s: %w", addr, h.file, err)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if _, err := f.WriteString(line); err != nil {
		_ = f.Close()
		return fmt.Errorf("record new host key of %s in %s: %w", addr, h.file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("record new host key of %s in %s: %w", addr, h.file, err)
	}
	if len(h.read) == 0 || h.read[0] != h.file {
		h.read = append([]string{h.file}, h.read...)
	}
	db, err := knownhosts.New(h.read...)
	if err != nil {
		return fmt.Errorf("reload %s: %w", h.file, err)
	}
	h.db = db
	return nil
}

// algorithms returns the host key algorithms to offer for addr: those of
// the keys known_hosts holds for it, so a server with several host keys
// (rsa, ecdsa, ed25519) presents the one we can check. Nil (library
// default) when the host is unknown.
func (h *hostKeys) algorithms(addr string) []string {
	// knownhosts has no lookup; asking it to check a key it cannot hold
	// makes it list the keys it has for addr in KeyError.Want.
	h.probeOnce.Do(func() {
		if pub, _, err := ed25519.GenerateKey(rand.Reader); err == nil {
			h.probe, _ = ssh.NewPublicKey(pub)
		}
	})
	if h.probe == nil {
		return nil
	}
	err := h.current()(addr, &net.TCPAddr{IP: net.IPv4zero}, h.probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range ke.Want {
		for _, a := range algorithmsFor(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

// algorithmsFor maps a key type to the signature algorithms that prove it:
// an "ssh-rsa" key signs with rsa-sha2-512/256 (SHA-1 ssh-rsa last).
func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	default:
		return []string{keyType}
	}
}
