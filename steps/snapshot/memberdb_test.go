package snapshot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// stoppedMemberDB runs a real one-member etcd, writes n keys, stops it the
// way a parked static pod stops, and returns a copy of its member/snap/db
// and the revision of the last write.
func stoppedMemberDB(t *testing.T, n int) (string, int64) {
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
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second): // a loaded CI core; a ready etcd takes well under a second
		e.Close()
		t.Fatal("etcd did not become ready in 30s")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	var rev int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		resp, err := cli.Put(ctx, fmt.Sprintf("/registry/configmaps/ns/cm-%d", i), "{}")
		if err != nil {
			cli.Close()
			e.Close()
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	cli.Close()
	e.Close()
	b, err := os.ReadFile(filepath.Join(cfg.Dir, "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out, rev
}

func TestAStoppedMembersDBIsVerifiedWithoutATrailer(t *testing.T) {
	db, rev := stoppedMemberDB(t, 20)
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		wantErr error
	}{
		{"the db of a stopped member verifies: revision, keys and consistent index read", nil, nil},
		{"a copy cut short is refused as truncated", func(t *testing.T, p string) {
			// bbolt grows the file ahead of use: cut into the pages in use.
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			m, err := readBoltMeta(f, st.Size())
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, m.dbSize()-int64(m.pageSize)); err != nil {
				t.Fatal(err)
			}
		}, ErrTruncated},
		{"a file that is not a database is refused", func(t *testing.T, p string) {
			if err := os.WriteFile(p, make([]byte, 8192), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ErrNotBolt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "db")
			if err := os.WriteFile(p, readFile(t, db), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.damage != nil {
				tc.damage(t, p)
			}
			info, err := VerifyMemberDB(p)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("VerifyMemberDB = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.Revision != rev || info.Keys != 20 || info.ConsistentIndex == 0 || len(info.SHA256) != 64 {
				t.Errorf("got revision %d keys %d consistent index %d sha256 %q; want revision %d, 20 keys, an index and a hash",
					info.Revision, info.Keys, info.ConsistentIndex, info.SHA256, rev)
			}
		})
	}
}
