package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Readiness faults (issue 18): each makes the cluster differ from its
// snapshot in a way the readiness report must catch before step 1. Each is
// self-contained and named as `etcd-dr drill --fault NAME` names it.
const (
	FaultEncryptionKeyRotated = "encryption-key-rotated"
	FaultCAReplaced           = "ca-replaced"
	FaultNewerEtcdSnapshot    = "newer-etcd-snapshot"
)

// ReadinessFault applies the named readiness fault to a seeded lab.
func (l *Lab) ReadinessFault(ctx context.Context, name string) error {
	switch name {
	case FaultEncryptionKeyRotated:
		return l.EncryptionKeyRotated(ctx)
	case FaultCAReplaced:
		return l.CAReplaced(ctx)
	case FaultNewerEtcdSnapshot:
		return l.NewerEtcdSnapshot()
	}
	return fmt.Errorf("lab: no readiness fault %q (have %s, %s, %s)", name, FaultEncryptionKeyRotated, FaultCAReplaced, FaultNewerEtcdSnapshot)
}

// EncryptionKeyRotated rotates the encryption-at-rest key after the
// snapshot the way the Kubernetes docs do it, then drops the old key: a new
// key first (the old one still decrypts), apiservers restarted, every Secret
// rewritten (the apiserver re-encrypts what it read with a non-primary
// key), the old key removed, apiservers restarted. The snapshot's Secrets
// are then encrypted with a key no apiserver holds.
func (l *Lab) EncryptionKeyRotated(ctx context.Context) error {
	if len(l.enc) == 0 { // a Lab opened by another process than the one that made it
		if err := l.readEncKeys(ctx); err != nil {
			return err
		}
	}
	if len(l.enc) == 0 {
		return fmt.Errorf("lab: %s: encryption at rest is off in this lab", FaultEncryptionKeyRotated)
	}
	next, err := newEncKey(fmt.Sprintf("lab-key-%d", len(l.enc)+1))
	if err != nil {
		return err
	}
	if err := l.setEncryptionKeys(ctx, append([]encKey{next}, l.enc...)); err != nil {
		return err
	}
	if err := l.reencryptSecrets(ctx, next.Name); err != nil {
		return err
	}
	return l.setEncryptionKeys(ctx, []encKey{next})
}

// setEncryptionKeys writes the config on every control-plane node and
// restarts its apiserver (the apiserver reads the file only at start).
func (l *Lab) setEncryptionKeys(ctx context.Context, keys []encKey) error {
	for _, cp := range l.nodeNames("cp-") {
		if err := l.writeInNode(ctx, cp, encryptionConfig, encryptionConfigYAML(keys), "600"); err != nil {
			return err
		}
		if err := l.restartApiserver(ctx, cp); err != nil {
			return err
		}
	}
	l.enc = keys
	return l.waitReady(ctx)
}

var (
	restartAnnotation = regexp.MustCompile(`(?m)^    lab\.etcd-dr/restarted: .*\n`)
	annotationsLine   = regexp.MustCompile(`(?m)^  annotations:\n`)
	metadataLine      = regexp.MustCompile(`(?m)^metadata:\n`)
)

// restartApiserver changes an annotation of the node's kube-apiserver
// manifest: the kubelet sees a new pod and restarts it, as a real kubelet
// does when an operator edits the manifest.
func (l *Lab) restartApiserver(ctx context.Context, cp string) error {
	return l.restartStaticPod(ctx, cp, "kube-apiserver.yaml")
}

// restartStaticPod restarts the static pod of manifest (a file name in
// /etc/kubernetes/manifests) the way restartApiserver does, adding the
// annotations a manifest without any lacks.
func (l *Lab) restartStaticPod(ctx context.Context, cp, manifest string) error {
	file := "/etc/kubernetes/manifests/" + manifest
	data, err := l.readInNode(ctx, cp, file)
	if err != nil {
		return err
	}
	data = restartAnnotation.ReplaceAll(data, nil)
	stamp := "    lab.etcd-dr/restarted: \"" + strconv.FormatInt(time.Now().UnixNano(), 10) + "\"\n"
	if annotationsLine.Match(data) {
		data = annotationsLine.ReplaceAll(data, []byte("  annotations:\n"+stamp))
	} else {
		data = metadataLine.ReplaceAll(data, []byte("metadata:\n  annotations:\n"+stamp))
	}
	return l.writeInNode(ctx, cp, file, data, "600")
}

// reencryptSecrets rewrites every Secret through the first apiserver until
// etcd holds each one encrypted with key (an apiserver still starting may
// answer with the old primary key: it is asked again).
func (l *Lab) reencryptSecrets(ctx context.Context, key string) error {
	c, err := l.apiClient()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	api := "https://" + l.nodes[l.nodeNames("cp-")[0]].spec.Addr + ":6443"
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute) // apiservers restarting on loaded cores
	defer cancel()
	prefix := "k8s:enc:aescbc:v1:" + key + ":"
	for {
		stale, err := l.staleSecrets(ctx, prefix)
		if err == nil && len(stale) == 0 {
			return nil
		}
		for _, k := range stale {
			_ = l.rewrite(ctx, c, api, k) // checked by the next staleSecrets
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: Secrets %v still not encrypted with %s: %w (last: %v)", FaultEncryptionKeyRotated, stale, key, ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// staleSecrets lists the etcd keys of Secrets not written with prefix.
func (l *Lab) staleSecrets(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := l.withEtcd(ctx, func(cli *clientv3.Client) error {
		resp, err := cli.Get(ctx, "/registry/secrets/", clientv3.WithPrefix())
		if err != nil {
			return err
		}
		for _, kv := range resp.Kvs {
			if len(kv.Value) < len(prefix) || string(kv.Value[:len(prefix)]) != prefix {
				out = append(out, string(kv.Key))
			}
		}
		return nil
	})
	return out, err
}

// rewrite reads one Secret (etcd key /registry/secrets/NS/NAME) and puts it
// back unchanged: what `kubectl get secrets -A -o json | kubectl replace -f -` does.
func (l *Lab) rewrite(ctx context.Context, c *http.Client, api, etcdKey string) error {
	ns, name, ok := strings.Cut(strings.TrimPrefix(etcdKey, "/registry/secrets/"), "/")
	if !ok {
		return fmt.Errorf("lab: %q is not a Secret's key", etcdKey)
	}
	url := api + "/api/v1/namespaces/" + ns + "/secrets/" + name
	body, err := apiDo(ctx, c, http.MethodGet, url, l.state.Tokens.Admin, nil)
	if err != nil {
		return err
	}
	_, err = apiDo(ctx, c, http.MethodPut, url, l.state.Tokens.Admin, body)
	return err
}

// CAReplaced replaces the cluster CA on every node after the snapshot and
// leaves the cluster as a finished CA rotation does (the Kubernetes manual
// CA rotation, or kubeadm's pki rebuilt with `kubeadm init phase certs`):
// a new ca.crt everywhere and ca.key on the control-plane nodes, every
// apiserver's serving certificate reissued by the new CA, the operator's
// kubeconfig (DIR/pki/ca.crt, which DIR/admin.conf names) trusting it, and
// the apiservers, schedulers, controller-managers and kubelets restarted so
// that each reads it. Components' kubeconfigs here name
// /etc/kubernetes/pki/ca.crt, so they follow the file (kubeadm embeds the CA
// and rewrites every kubeconfig in the same rotation). The controller-manager
// then republishes kube-root-ca.crt in the live cluster; the snapshot's
// ConfigMaps still carry the old CA, which is what the ca-era check finds.
//
// Writing only ca.crt (as this fault once did) left the apiservers serving a
// certificate of the old CA that no component trusted any longer: every
// controller-manager crash-looped on "x509: certificate signed by unknown
// authority" at its next start, restore or not; no rotation ends so.
func (l *Lab) CAReplaced(ctx context.Context) error {
	if l.real != nil {
		return fmt.Errorf("lab: %s is not made on the real tier", FaultCAReplaced)
	}
	ca, err := newCA("kubernetes")
	if err != nil {
		return err
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})
	key, err := marshalKey(ca)
	if err != nil {
		return err
	}
	for _, name := range l.order {
		if !l.hasRole(name, "control-plane") {
			if err := l.writeInNode(ctx, name, "/etc/kubernetes/pki/ca.crt", crt, "644"); err != nil {
				return err
			}
			continue
		}
		serving, err := apiserverLeaf(&ca).issue(name, l.nodes[name].spec.Addr)
		if err != nil {
			return err
		}
		servingKey, err := marshalKey(serving)
		if err != nil {
			return err
		}
		for _, f := range []struct {
			file, mode string
			data       []byte
		}{
			{"/etc/kubernetes/pki/ca.key", "600", key},
			{"/etc/kubernetes/pki/apiserver.key", "600", servingKey},
			{"/etc/kubernetes/pki/apiserver.crt", "644", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serving.der})},
			{"/etc/kubernetes/pki/ca.crt", "644", crt},
		} {
			if err := l.writeInNode(ctx, name, f.file, f.data, f.mode); err != nil {
				return err
			}
		}
	}
	if l.pki != nil {
		l.pki.CA = ca
	}
	if err := writePair(filepath.Join(l.opts.Dir, "pki"), "ca", ca); err != nil {
		return err
	}
	for _, cp := range l.nodeNames("cp-") {
		for _, m := range []string{"kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"} {
			if err := l.restartStaticPod(ctx, cp, m); err != nil {
				return err
			}
		}
	}
	for _, name := range l.order {
		if k := l.nodes[name].kubelet; k != nil {
			k.restart() // systemctl restart kubelet: it reads the new CA
		}
	}
	return l.waitReady(ctx)
}

// NewerEtcdSnapshot makes DIR/snapshot.db a snapshot saved by etcd 3.7
// (storage version 3.7.0) while the members run 3.6.6. A FAKE by one key:
// it marks the lab's own snapshot exactly as etcd 3.7's server/storage/schema
// does, with its sha256 trailer made whole again, because a second lab of
// etcd 3.7.3 to save a real one would not fit CI. With members on 3.7.3
// (Options.EtcdVersion) the snapshot is simply that version's and this
// fault does not apply.
func (l *Lab) NewerEtcdSnapshot() error {
	snap := filepath.Join(l.opts.Dir, "snapshot.db")
	data, err := os.ReadFile(snap)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", FaultNewerEtcdSnapshot, err)
	}
	body := snap + ".lab-body"
	defer os.Remove(body)
	if err := os.WriteFile(body, data[:len(data)-sha256.Size], 0o600); err != nil {
		return err
	}
	db, err := bolt.Open(body, 0o600, nil)
	if err != nil {
		return fmt.Errorf("lab: %s: %w", FaultNewerEtcdSnapshot, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("storageVersion"), []byte("3.7.0"))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("lab: %s: %w", FaultNewerEtcdSnapshot, err)
	}
	b, err := os.ReadFile(body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	return writeFileAtomic(snap, append(b, sum[:]...), 0o600)
}

// apiDo sends one request to the lab's apiserver and returns the body of
// a 2xx answer.
func apiDo(ctx context.Context, c *http.Client, method, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d", method, url, resp.StatusCode)
	}
	return out, nil
}

func marshalKey(kp keyPair) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(kp.key)
	if err != nil {
		return nil, fmt.Errorf("lab pki: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func (l *Lab) hasRole(name, role string) bool {
	n, ok := l.nodes[name]
	return ok && slices.Contains(n.spec.Roles, role)
}

var encKeyRE = regexp.MustCompile(`- name: (\S+)\n\s+secret: (\S+)`)

// readEncKeys reads the keys every apiserver holds from the first
// control-plane node's encryption config.
func (l *Lab) readEncKeys(ctx context.Context) error {
	cps := l.nodeNames("cp-")
	if len(cps) == 0 {
		return fmt.Errorf("lab: no control-plane node")
	}
	data, err := l.readInNode(ctx, cps[0], encryptionConfig)
	if err != nil {
		return nil // no config: encryption at rest is off
	}
	for _, m := range encKeyRE.FindAllSubmatch(data, -1) {
		secret, err := base64.StdEncoding.DecodeString(string(m[2]))
		if err != nil {
			return fmt.Errorf("lab: %s on %s: key %s is not base64", encryptionConfig, cps[0], m[1])
		}
		l.enc = append(l.enc, encKey{Name: string(m[1]), Secret: secret})
	}
	return nil
}
