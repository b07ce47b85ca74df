package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
)

// Seed records what the lab wrote around the snapshot, for Verify.
type Seed struct {
	Time         time.Time `json:"time"`
	Snapshot     string    `json:"snapshot"`
	EtcdVersion  string    `json:"etcdVersion"`
	Seed         []string  `json:"seed"`         // API paths that must be served after a restore
	PostSnapshot []string  `json:"postSnapshot"` // API paths that must be gone after a restore
	RawSeed      string    `json:"rawSeed"`      // raw etcd key written before the snapshot
	RawPost      string    `json:"rawPost"`      // raw etcd key written after it
	// Keys is how many raw keys under KeysPrefix the snapshot holds, and so
	// a restored cluster (Options.Keys).
	Keys int `json:"keys,omitempty"`
	// SnapshotFrom is Options.SnapshotFrom: the restore's snapshot is a
	// member's data, so the writes after snapshot.db must be served.
	SnapshotFrom string `json:"snapshotFrom,omitempty"`
}

const seedFile = "seed.json"

// object is one API object to create: collection path and body.
type object struct{ collection, name, body string }

func namespace(name string) object {
	return object{"/api/v1/namespaces", name, fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":%q}}`, name)}
}

func configMap(ns, name, value string) object {
	return object{"/api/v1/namespaces/" + ns + "/configmaps", name,
		fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"value":%q,"config.yaml":%q}}`,
			name, value, filler(name, seedPadBytes))}
}

// secret is an Opaque Secret: with encryption at rest on (the default) the
// apiserver stores it encrypted, so the snapshot carries an encrypted value.
func secret(ns, name, value string) object {
	return object{"/api/v1/namespaces/" + ns + "/secrets", name,
		fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":%q},"stringData":{"value":%q,"tls.key":%q}}`,
			name, value, filler(name, seedPadBytes))}
}

// bigConfigMap is the one large object of a real keyspace (dashboards, a
// CRD's schema): bigConfigBytes of data.
func bigConfigMap(ns, name string) object {
	return object{"/api/v1/namespaces/" + ns + "/configmaps", name,
		fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"dashboards.json":%q}}`,
			name, filler(name, bigConfigBytes))}
}

// deployment carries kubectl's last-applied-configuration annotation, as
// an applied one does: a few KiB, like a real Deployment object.
func deployment(ns, name string) object {
	return object{"/apis/apps/v1/namespaces/" + ns + "/deployments", name, fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment",
"metadata":{"name":%q,"annotations":{"kubectl.kubernetes.io/last-applied-configuration":%q}},"spec":{"replicas":1,"selector":{"matchLabels":{"app":%q}},
"template":{"metadata":{"labels":{"app":%q}},"spec":{"containers":[{"name":"web","image":"web:lab"}]}}}}`,
		name, filler(name, seedPadBytes), name, name)}
}

// seed writes objects through the kube-apiserver, takes DIR/snapshot.db from
// the first member exactly as `etcdctl snapshot save` does (with its sha256
// trailer), then writes more objects that a correct restore must make vanish.
func (l *Lab) seed(ctx context.Context) (Seed, error) {
	api := l.nodes[l.nodeNames("cp-")[0]].spec.Addr
	before := []object{namespace("seed-1"), namespace("seed-2"),
		configMap("seed-1", "seed-config", "before the snapshot"), configMap("seed-2", "seed-config", "before"),
		deployment("seed-1", "seed-web"), secret("seed-1", "seed-secret", "before the snapshot"),
		bigConfigMap("seed-2", "seed-dashboards")}
	after := []object{namespace("post-snapshot-1"), configMap("post-snapshot-1", "post-snapshot-config", "after"),
		configMap("seed-1", "post-snapshot-config", "after the snapshot")}
	s := Seed{Snapshot: filepath.Join(l.opts.Dir, "snapshot.db"), RawSeed: "/lab/seed", RawPost: "/lab/post-snapshot"}
	c, err := l.apiClient()
	if err != nil {
		return s, err
	}
	defer c.CloseIdleConnections()
	for _, o := range before {
		if err := create(ctx, c, api, l.state.Tokens.Admin, o); err != nil {
			return s, err
		}
		s.Seed = append(s.Seed, o.collection+"/"+o.name)
	}
	if err := l.etcdPut(ctx, s.RawSeed, "before the snapshot"); err != nil {
		return s, err
	}
	// The snapshot carries the cluster CA in kube-root-ca.crt, as a real
	// one does: kube-controller-manager's publisher writes it into every
	// namespace; wait for it in a seeded one.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a cold controller-manager on loaded cores
	err = waitHTTP(wctx, c, "https://"+api+":6443/api/v1/namespaces/seed-1/configmaps/kube-root-ca.crt", l.state.Tokens.Admin)
	cancel()
	if err != nil {
		return s, fmt.Errorf("lab seed: kube-controller-manager never published kube-root-ca.crt in seed-1: %w", err)
	}
	if err := l.seedKeys(ctx, seedKeysBefore); err != nil {
		return s, err
	}
	s.Keys = l.opts.Keys
	s.SnapshotFrom = l.opts.SnapshotFrom
	member := l.opts.members()[0].Addr
	cfg, err := etcdClientConfig(l.opts.Dir, []string{"https://" + member + ":2379"})
	if err != nil {
		return s, err
	}
	if s.EtcdVersion, err = snapshot.SaveWithVersion(ctx, zap.NewNop(), cfg, s.Snapshot); err != nil {
		return s, fmt.Errorf("lab seed: snapshot from %s: %w", member, err)
	}
	s.Time = time.Now()
	for _, o := range after {
		if err := create(ctx, c, api, l.state.Tokens.Admin, o); err != nil {
			return s, err
		}
		s.PostSnapshot = append(s.PostSnapshot, o.collection+"/"+o.name)
	}
	if err := l.etcdPut(ctx, s.RawPost, "after the snapshot"); err != nil {
		return s, err
	}
	if err := l.seedKeys(ctx, seedKeysAfter); err != nil {
		return s, err
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return s, writeFileAtomic(filepath.Join(l.opts.Dir, seedFile), b, 0o644)
}

func create(ctx context.Context, c *http.Client, addr, token string, o object) error {
	url := "https://" + addr + ":6443" + o.collection
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(o.body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("lab seed: POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("lab seed: POST %s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	return nil
}

// etcdPut writes a raw key (not an API object) through the first member.
func (l *Lab) etcdPut(ctx context.Context, key, value string) error {
	return l.withEtcd(ctx, func(cli *clientv3.Client) error {
		if _, err := cli.Put(ctx, key, value); err != nil {
			return fmt.Errorf("lab seed: put %s: %w", key, err)
		}
		return nil
	})
}

// seedKeys runs one of keyseed.go's writers when Options.Keys asks for keys.
func (l *Lab) seedKeys(ctx context.Context, write func(context.Context, *clientv3.Client, int, int) error) error {
	if l.opts.Keys == 0 {
		return nil
	}
	return l.withEtcd(ctx, func(cli *clientv3.Client) error { return write(ctx, cli, l.opts.Keys, l.opts.KeyValueBytes) })
}

// withEtcd calls fn with a client of the first member.
func (l *Lab) withEtcd(ctx context.Context, fn func(*clientv3.Client) error) error {
	cfg, err := etcdClientConfig(l.opts.Dir, []string{"https://" + l.opts.members()[0].Addr + ":2379"})
	if err != nil {
		return err
	}
	cfg.Context = ctx
	cli, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("lab seed: etcd client: %w", err)
	}
	defer cli.Close()
	return fn(cli)
}

// etcdClientConfig is an etcd v3 client with the bastion's client cert.
func etcdClientConfig(dir string, endpoints []string) (clientv3.Config, error) {
	pki := filepath.Join(dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "bastion", "apiserver-etcd-client.crt"),
		filepath.Join(pki, "bastion", "apiserver-etcd-client.key"))
	if err != nil {
		return clientv3.Config{}, fmt.Errorf("lab: etcd client cert: %w", err)
	}
	ca, err := os.ReadFile(filepath.Join(pki, "etcd", "ca.crt"))
	if err != nil {
		return clientv3.Config{}, fmt.Errorf("lab: etcd CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return clientv3.Config{}, errors.New("lab: etcd CA: no certificate")
	}
	return clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}, nil
}

// ReadSeed reads DIR/seed.json.
func ReadSeed(dir string) (Seed, error) {
	var s Seed
	b, err := os.ReadFile(filepath.Join(dir, seedFile))
	if err != nil {
		return s, fmt.Errorf("lab: no seed in %s (run the seed first): %w", dir, err)
	}
	return s, json.Unmarshal(b, &s)
}
