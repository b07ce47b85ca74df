package snapshot

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// member is a real etcd server running in this test process.
type member struct {
	endpoint string
	cli      *clientv3.Client
}

// freeURL reserves a loopback port and gives it back for etcd to bind.
func freeURL(t testing.TB) url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return url.URL{Scheme: "http", Host: addr}
}

// startEtcd starts a one-member etcd 3.7 cluster on loopback with its data
// in a temp dir, stopped at cleanup.
func startEtcd(t testing.TB) member {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "cp-1"
	cfg.Dir = filepath.Join(t.TempDir(), "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, peer := freeURL(t), freeURL(t)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", cfg.Name, peer.String())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not become ready in 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return member{endpoint: client.String(), cli: cli}
}

// putKubernetesKeys writes keys shaped like the apiserver's.
func putKubernetesKeys(t testing.TB, m member, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		key := fmt.Sprintf("/registry/configmaps/ns-%d/cm-%d", i%5, i)
		if _, err := m.cli.Put(ctx, key, fmt.Sprintf(`{"kind":"ConfigMap","data":{"i":"%d"}}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"/registry/namespaces/default", "/registry/clusterrolebindings/cluster-admin"} {
		if _, err := m.cli.Put(ctx, k, "{}"); err != nil {
			t.Fatal(err)
		}
	}
}

// savedSnapshot starts etcd, writes keys and saves a snapshot with Save,
// returning its path in a fresh temp dir.
func savedSnapshot(t testing.TB, keys int) (string, member) {
	t.Helper()
	m := startEtcd(t)
	putKubernetesKeys(t, m, keys)
	out := filepath.Join(t.TempDir(), "snap.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Save(ctx, clientv3.Config{}, m.endpoint, out); err != nil {
		t.Fatal(err)
	}
	return out, m
}

// readFile reads a whole file or fails the test.
func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func endpointOf(u url.URL) string { return u.String() }

func hexOf(b []byte) string { return hex.EncodeToString(b) }
