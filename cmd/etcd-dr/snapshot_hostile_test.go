package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// hostileKeys are key names anyone able to write to etcd (through the
// apiserver, a namespace name is enough) could give a snapshot: a screen
// clear, a clipboard write, a carriage return over a warning, a C1 CSI.
var hostileKeys = []string{
	"/registry/configmaps/ns\x1b[2J\x1b[H/cm-1",
	"/registry/configmaps/clip\x1b]52;c;cm0gLXJmIC8K\x07/cm-2",
	"/registry/secrets/cr\rOK/s-1",
	"/registry/c1\u009b31m/x",
	"outside\x1b[31m-registry",
}

// hostileSnapshot saves a real etcd snapshot holding hostileKeys.
func hostileSnapshot(t *testing.T) string {
	t.Helper()
	free := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "http", Host: l.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "cp-1", filepath.Join(t.TempDir(), "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, peer := free(), free()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("cp-1=%s", peer.String())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second): // a loaded CI machine; an idle one takes ~1 s
		t.Fatal("etcd did not become ready in 60s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, k := range hostileKeys {
		if _, err := cli.Put(ctx, k, "{}"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "snap.db")
	if _, err := snapshot.Save(ctx, clientv3.Config{}, client.String(), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawControl finds a byte or rune a terminal would act on.
func rawControl(s string) int {
	return strings.IndexFunc(s, func(r rune) bool {
		return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f)
	})
}

func TestHostileKeyNamesInASnapshotAreShownNotObeyed(t *testing.T) {
	file := hostileSnapshot(t)
	for _, args := range [][]string{
		{"snapshot", "inspect", file},
		{"snapshot", "inspect", "-o", "json", file},
		{"snapshot", "status", file},
	} {
		t.Run(strings.Join(args[:len(args)-1], " "), func(t *testing.T) {
			code, out, errOut := cli(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for name, text := range map[string]string{"stdout": out, "stderr": errOut} {
				if i := rawControl(text); i >= 0 {
					t.Errorf("%s holds a raw control %q near %q", name, text[i], text[max(0, i-20):min(len(text), i+20)])
				}
			}
			if args[2] == "inspect" && !strings.Contains(out, `\u001b[2J`) && !strings.Contains(out, `\x1b[2J`) {
				t.Errorf("the hostile namespace is not shown visibly:\n%s", out)
			}
		})
	}
	t.Run("snapshot diff's listing", func(t *testing.T) {
		var b strings.Builder
		writeDiff(&b, snapshot.Diff{Dropped: []snapshot.Group{{Resource: "configmaps", Namespace: "ns\x1b[2J", Names: []string{"a\x1b]52;c;eA==\x07", "b\u009b31m"}}}})
		if i := rawControl(b.String()); i >= 0 {
			t.Errorf("diff holds a raw control near %q", b.String()[max(0, i-20):min(b.Len(), i+20)])
		}
	})
}
