package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// startEtcdMember starts a one-member etcd named name on loopback, with its
// data in a temp dir, and returns its client URL and a stop func (also
// called at cleanup).
func startEtcdMember(t *testing.T, name string) (string, func()) {
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
	cfg.Name, cfg.Dir = name, filepath.Join(t.TempDir(), "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, peer := free(), free()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", name, peer.String())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(e.Close) } // Close twice panics
	t.Cleanup(stop)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second): // a cold start on 2 noisy cores takes a few seconds
		t.Fatal("etcd did not become ready in 30s")
	}
	return client.String(), stop
}

// clientPages is pageFetch through the etcd client, with the options
// etcdctl's `get --from-key --keys-only --limit --rev` sets, its answer
// printed as etcdctl's -w json prints it (the RangeResponse as JSON) and
// parsed as the engine parses etcdctl's; pages hold at most pageMax keys.
// between runs after each page, as writes racing the listing would.
func clientPages(cli *clientv3.Client, pageMax int, between func(page int)) (pageFetch, *[]int) {
	var asked []int
	page := 0
	return func(ctx context.Context, from string, rev int64, limit int) (snapshot.Page, int, error) {
		asked = append(asked, limit)
		if from == "" {
			from = "\x00" // what etcdctl does with an empty key
		}
		resp, err := cli.Get(ctx, from, clientv3.WithFromKey(), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(min(limit, pageMax))), clientv3.WithRev(rev))
		if err != nil {
			return snapshot.Page{}, 0, err
		}
		out, err := json.Marshal((*pb.RangeResponse)(resp))
		if err != nil {
			return snapshot.Page{}, 0, err
		}
		page++
		if between != nil {
			between(page)
		}
		p, err := snapshot.ParseEtcdctlPage(out)
		return p, len(out), err
	}, &asked
}

func putKeys(t *testing.T, cli *clientv3.Client, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := cli.Put(context.Background(), k, "v"); err != nil {
			t.Fatal(err)
		}
	}
}

func keyNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// Paging boundaries against a real etcd: every key once, in order, at the
// first page's revision, whether the keyspace is empty, exactly one page,
// one key more, or many pages with writes racing between them.
func TestKeysArePagedOnceEachInOrderAtOneRevision(t *testing.T) {
	const pageMax = 4
	for _, tc := range []struct {
		name  string
		keys  int
		pages int
	}{
		{"an empty keyspace is one empty page", 0, 1},
		{"exactly one page of keys is one page", pageMax, 1},
		{"one key more than a page takes a second page for it", pageMax + 1, 2},
		{"many pages repeat no key and miss none", 5*pageMax + 2, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, _ := startEtcdMember(t, "cp-1")
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			want := keyNames("/registry/configmaps/ns/cm-", tc.keys)
			putKeys(t, cli, want...)
			// Writes after the first page: a key before the cursor, one after
			// it, and a listed key deleted. None of them may show.
			racing := func(page int) {
				if page != 1 {
					return
				}
				putKeys(t, cli, "/a-before-every-key", "/registry/zz-after-every-key")
				if tc.keys > 0 {
					if _, err := cli.Delete(context.Background(), want[len(want)-1]); err != nil {
						t.Error(err)
					}
				}
			}
			fetch, _ := clientPages(cli, pageMax, racing)
			var got []string
			l, err := pageKeys(context.Background(), fetch, func(k snapshot.KeyRev) error {
				got = append(got, k.Key)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("listed %q\nwant %q", got, want)
			}
			if l.Keys != int64(tc.keys) || l.Pages != tc.pages {
				t.Errorf("listing = %+v, want %d keys in %d pages", l, tc.keys, tc.pages)
			}
		})
	}
}

// A page whose output reaches the cap is read again with half the keys, and
// the pages after it are sized from the bytes per key seen.
func TestAPageTooBigIsReadAgainSmallerAndLaterPagesAreSizedFromIt(t *testing.T) {
	ep, _ := startEtcdMember(t, "cp-1")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	want := keyNames("/lab/keys/", 3000)
	for i := 0; i < len(want); i += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for _, k := range want[i:min(i+100, len(want))] {
			ops = append(ops, clientv3.OpPut(k, "v"))
		}
		if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
			t.Fatal(err)
		}
	}
	inner, asked := clientPages(cli, maxPageKeys, nil)
	fetch := func(ctx context.Context, from string, rev int64, limit int) (snapshot.Page, int, error) {
		if limit > 300 {
			return snapshot.Page{}, 0, errPageTooBig // as if the key names were long
		}
		return inner(ctx, from, rev, limit)
	}
	n := 0
	l, err := pageKeys(context.Background(), fetch, func(snapshot.KeyRev) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want) || l.Keys != int64(len(want)) {
		t.Errorf("listed %d keys (%d counted), want %d", n, l.Keys, len(want))
	}
	if got := (*asked)[0]; got != firstPageKeys/4 {
		t.Errorf("the first page read was asked for %d keys, want %d (halved twice from %d)", got, firstPageKeys/4, firstPageKeys)
	}
}

// A listing that etcd's count contradicts is an error, never a silent diff.
func TestAListingShortOfEtcdsCountIsAnError(t *testing.T) {
	fetch := func(ctx context.Context, from string, rev int64, limit int) (snapshot.Page, int, error) {
		return snapshot.Page{Revision: 9, Count: 3, Keys: []snapshot.KeyRev{{Key: "/a"}, {Key: "/b"}}}, 10, nil
	}
	_, err := pageKeys(context.Background(), fetch, func(snapshot.KeyRev) error { return nil })
	if err == nil || errors.Is(err, errPageTooBig) {
		t.Fatalf("err = %v, want a count mismatch", err)
	}
}
