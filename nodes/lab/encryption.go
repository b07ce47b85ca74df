package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Encryption at rest, on by default as hardened clusters run it (CIS
// 1.2.27-28): every control-plane node's kube-apiserver reads an
// EncryptionConfiguration encrypting Secrets with aescbc, from its own
// directory mounted into the pod as kubeadm's extraVolumes do. The real
// apiserver then writes the Secrets the seed creates as
// "k8s:enc:aescbc:v1:<key name>:..." values, so the snapshot's are really
// encrypted.
const (
	encryptionDir    = "/etc/kubernetes/enc"
	encryptionConfig = encryptionDir + "/encryption-config.yaml"
)

// encKey is one aescbc key: its name and 32 random bytes.
type encKey struct {
	Name   string
	Secret []byte
}

func newEncKey(name string) (encKey, error) {
	k := encKey{Name: name, Secret: make([]byte, 32)}
	if _, err := rand.Read(k.Secret); err != nil {
		return k, fmt.Errorf("lab: encryption key: %w", err)
	}
	return k, nil
}

// encryptionConfigYAML renders an EncryptionConfiguration: the first key
// encrypts, the others only decrypt; identity last reads what was written
// before encryption was turned on, as the Kubernetes docs lay it out.
func encryptionConfigYAML(keys []encKey) []byte {
	var b bytes.Buffer
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "            - name: %s\n              secret: %s\n", k.Name, base64.StdEncoding.EncodeToString(k.Secret))
	}
	b.WriteString("      - identity: {}\n")
	return b.Bytes()
}

// writeEncryptionConfig writes the config into a node's sandbox /etc before
// the node starts (prepare).
func writeEncryptionConfig(etcDir string, keys []encKey) error {
	dir := filepath.Join(etcDir, strings.TrimPrefix(encryptionDir, "/etc/"))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, path.Base(encryptionConfig)), encryptionConfigYAML(keys), 0o600)
}

// writeInNode replaces file inside a running node (through its mount
// namespace, as root), atomically: write beside it, then rename.
func (l *Lab) writeInNode(ctx context.Context, name, file string, data []byte, mode string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	cmd := n.command(ctx, "sh", "-c", `set -e; umask 077; mkdir -p "$(dirname "$1")"; cat >"$1.lab-new"; chmod "$2" "$1.lab-new"; mv -f "$1.lab-new" "$1"`,
		"write", file, mode)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: write %s on %s: %w: %s", file, name, err, out)
	}
	return nil
}

// readInNode reads a file inside a running node.
func (l *Lab) readInNode(ctx context.Context, name, file string) ([]byte, error) {
	n, err := l.node(name)
	if err != nil {
		return nil, err
	}
	out, err := n.command(ctx, "cat", "--", file).Output()
	if err != nil {
		return nil, fmt.Errorf("lab: read %s on %s: %w", file, name, err)
	}
	return out, nil
}
