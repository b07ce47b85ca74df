package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/snapshot"
	"go.uber.org/zap"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
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

func namespace(name string) object {
	return object{"/api/v1/namespaces/" + name, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

func configMap(ns, name, value string) object {
	return object{"/api/v1/namespaces/" + ns + "/configmaps/" + name, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data:       map[string]string{"value": value, "config.yaml": filler(name, seedPadBytes)}}}
}

// secret is an Opaque Secret: with encryption at rest on (the default) the
// apiserver stores it encrypted, so the snapshot carries an encrypted value.
func secret(ns, name, value string) object {
	return object{"/api/v1/namespaces/" + ns + "/secrets/" + name, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		StringData: map[string]string{"value": value, "tls.key": filler(name, seedPadBytes)}}}
}

// bigConfigMap is the one large object of a real keyspace (dashboards, a
// CRD's schema): bigConfigBytes of data.
func bigConfigMap(ns, name string) object {
	return object{"/api/v1/namespaces/" + ns + "/configmaps/" + name, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data:       map[string]string{"dashboards.json": filler(name, bigConfigBytes)}}}
}

// deployment carries kubectl's last-applied-configuration annotation, as
// an applied one does: a few KiB, like a real Deployment object.
func deployment(ns, name string) object {
	labels := map[string]string{"app": name}
	return object{"/apis/apps/v1/namespaces/" + ns + "/deployments/" + name, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": filler(name, seedPadBytes)}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:lab"}}}}}}}
}

// seed writes objects through the kube-apiserver, takes DIR/snapshot.db from
// the first member exactly as `etcdctl snapshot save` does (with its sha256
// trailer), then writes more objects that a correct restore must make vanish.
func (l *Lab) seed(ctx context.Context) (Seed, error) {
	before := []object{namespace("seed-1"), namespace("seed-2"),
		configMap("seed-1", "seed-config", "before the snapshot"), configMap("seed-2", "seed-config", "before"),
		deployment("seed-1", "seed-web"), secret("seed-1", "seed-secret", "before the snapshot"),
		bigConfigMap("seed-2", "seed-dashboards")}
	after := []object{namespace("post-snapshot-1"), configMap("post-snapshot-1", "post-snapshot-config", "after"),
		configMap("seed-1", "post-snapshot-config", "after the snapshot")}
	s := Seed{Snapshot: filepath.Join(l.opts.Dir, "snapshot.db"), RawSeed: "/lab/seed", RawPost: "/lab/post-snapshot"}
	a, err := l.adminClient()
	if err != nil {
		return s, err
	}
	defer a.close()
	for _, o := range before {
		if err := a.create(ctx, "lab seed", o); err != nil {
			return s, err
		}
		s.Seed = append(s.Seed, o.path)
	}
	if err := l.etcdPut(ctx, s.RawSeed, "before the snapshot"); err != nil {
		return s, err
	}
	// The snapshot carries the cluster CA in kube-root-ca.crt, as a real
	// one does: kube-controller-manager's publisher writes it into every
	// namespace; wait for it in a seeded one.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // a cold controller-manager on loaded cores
	err = a.waitFor(wctx, func(ctx context.Context) error {
		_, err := a.cs.CoreV1().ConfigMaps("seed-1").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})
	cancel()
	if err != nil {
		return s, fmt.Errorf("lab seed: kube-controller-manager never published kube-root-ca.crt in seed-1: %w", err)
	}
	if err := l.seedSystem(ctx, a); err != nil {
		return s, err
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
		if err := a.create(ctx, "lab seed", o); err != nil {
			return s, err
		}
		s.PostSnapshot = append(s.PostSnapshot, o.path)
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
