package snapshot

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// op is one write of a scenario; compact compacts (physically) at the
// revision the writes before it reached.
type op struct {
	put, del, delPrefix string
	compact             bool
}

// TestSnapshotKeysAreTheKeysEtcdServesAtTheSnapshot replays histories with
// tombstones, re-created keys and compacted revisions through a real etcd,
// saves a snapshot and checks the live keys read from it (and their create
// and mod revisions) are exactly what that etcd serves, with every run size
// from one revision per spilled run to one run in memory.
func TestSnapshotKeysAreTheKeysEtcdServesAtTheSnapshot(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
	}{
		{"a deleted key is gone, its neighbours stay", []op{
			{put: "/a"}, {put: "/b"}, {put: "/c"}, {del: "/b"}}},
		{"a key deleted and re-created is alive with its new create revision", []op{
			{put: "/a"}, {put: "/a"}, {del: "/a"}, {put: "/b"}, {put: "/a"}, {put: "/a"}}},
		{"a key deleted twice over and left deleted stays gone", []op{
			{put: "/x"}, {del: "/x"}, {put: "/x"}, {del: "/x"}, {put: "/y"}}},
		{"compacted history: the newest revision of each key survives", []op{
			{put: "/a"}, {put: "/a"}, {put: "/b"}, {del: "/b"}, {put: "/c"}, {compact: true}, {put: "/c"}}},
		{"deleted before a compaction, re-created after it", []op{
			{put: "/k"}, {del: "/k"}, {compact: true}, {put: "/k"}, {put: "/j"}, {del: "/j"}}},
		{"a prefix deleted in one revision", []op{
			{put: "/registry/pods/ns/a"}, {put: "/registry/pods/ns/b"}, {put: "/registry/pods/nt/c"},
			{delPrefix: "/registry/pods/ns/"}, {put: "/registry/pods/ns/b"}}},
		{"every key deleted, then compacted: an empty keyspace", []op{
			{put: "/a"}, {put: "/b"}, {delPrefix: "/"}, {compact: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := startEtcd(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i, o := range tt.ops {
				var err error
				switch {
				case o.put != "":
					_, err = m.cli.Put(ctx, o.put, fmt.Sprintf("value %d", i))
				case o.del != "":
					_, err = m.cli.Delete(ctx, o.del)
				case o.delPrefix != "":
					_, err = m.cli.Delete(ctx, o.delPrefix, clientv3.WithPrefix())
				case o.compact:
					var r *clientv3.GetResponse
					if r, err = m.cli.Get(ctx, "/"); err == nil {
						_, err = m.cli.Compact(ctx, r.Header.Revision, clientv3.WithCompactPhysical())
					}
				}
				if err != nil {
					t.Fatalf("op %d %+v: %v", i, o, err)
				}
			}
			resp, err := m.cli.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithKeysOnly())
			if err != nil {
				t.Fatal(err)
			}
			want := []KeyRev{}
			for _, kv := range resp.Kvs {
				want = append(want, KeyRev{string(kv.Key), kv.CreateRevision, kv.ModRevision})
			}
			path := filepath.Join(t.TempDir(), "snap.db")
			if _, err := Save(ctx, clientv3.Config{}, m.endpoint, path); err != nil {
				t.Fatal(err)
			}

			ks, err := SnapshotKeys(path) // through the child and its file, the default run size
			if err != nil {
				t.Fatal(err)
			}
			if ks.Revision != resp.Header.Revision || !reflect.DeepEqual(append([]KeyRev{}, ks.Keys...), want) {
				t.Errorf("SnapshotKeys = %v at %d\netcd serves %v at %d", ks.Keys, ks.Revision, want, resp.Header.Revision)
			}
			for _, run := range [][2]int{{1, 1 << 20}, {2, 1 << 20}, {3, 1 << 20}, {1 << 18, 5}, {1 << 18, 1 << 20}} {
				got, rev := liveKeysWithRuns(t, path, run[0], run[1])
				if rev != resp.Header.Revision || !reflect.DeepEqual(got, want) {
					t.Errorf("runs of %d revisions, %d key bytes: %v at %d\netcd serves %v at %d", run[0], run[1], got, rev, want, resp.Header.Revision)
				}
			}
		})
	}
}

// runMu serialises tests that change runRevisions.
var runMu sync.Mutex

// liveKeysWithRuns reads path's live keys in this process, spilling runs of
// revs revisions or keyBytes of keys.
func liveKeysWithRuns(t testing.TB, path string, revs, keyBytes int) ([]KeyRev, int64) {
	t.Helper()
	runMu.Lock()
	defer runMu.Unlock()
	defer func(r, b int) { runRevisions, runBytes = r, b }(runRevisions, runBytes)
	runRevisions, runBytes = revs, keyBytes
	got := []KeyRev{}
	rev, err := liveKeys(path, t.TempDir(), func(key []byte, create, mod int64) error {
		got = append(got, KeyRev{string(key), create, mod})
		return nil
	})
	if err != nil {
		t.Fatalf("runs of %d revisions, %d key bytes: %v", revs, keyBytes, err)
	}
	return got, rev
}

// FuzzDecodeKVMatchesProto checks the partial decoder reads key and
// revisions exactly as proto.Unmarshal does, and refuses what it refuses.
func FuzzDecodeKVMatchesProto(f *testing.F) {
	for _, kv := range []*mvccpb.KeyValue{
		{Key: []byte("/registry/pods/ns/p"), CreateRevision: 4, ModRevision: 70, Version: 2, Value: []byte("v"), Lease: 9},
		{Key: []byte("/tomb")},
		{},
	} {
		b, _ := proto.Marshal(kv)
		f.Add(b)
	}
	// A repeated key (the last wins) and a key sent with the varint type (unknown).
	f.Add(protowire.AppendBytes(protowire.AppendTag(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("a")), 1, protowire.BytesType), []byte("b")))
	f.Add(protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 7))
	f.Add([]byte{0x0a, 0x05, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		var kv mvccpb.KeyValue
		perr := proto.Unmarshal(b, &kv)
		key, create, mod, err := decodeKV(b)
		if (perr == nil) != (err == nil) {
			t.Fatalf("proto.Unmarshal: %v; decodeKV: %v", perr, err)
		}
		if err == nil && (!bytes.Equal(key, kv.Key) || create != kv.CreateRevision || mod != kv.ModRevision) {
			t.Errorf("decodeKV = %q %d %d, proto.Unmarshal = %q %d %d", key, create, mod, kv.Key, kv.CreateRevision, kv.ModRevision)
		}
	})
}

// TestKeyReaderRefusesADamagedKeyFile: the parent trusts the child's file
// only as far as it checks it: in key order, as many keys as counted.
func TestKeyReaderRefusesADamagedKeyFile(t *testing.T) {
	rec := func(k string) []byte { return appendRec(nil, []byte(k), 1, 1, false) }
	tests := []struct {
		name  string
		data  []byte
		count int64
		want  string
	}{
		{"keys out of order", append(rec("/b"), rec("/a")...), 2, "after"},
		{"a key repeated", append(rec("/a"), rec("/a")...), 2, "after"},
		{"fewer keys than counted", rec("/a"), 2, "ended after 1 of 2"},
		{"a record cut short", rec("/abc")[:3], 1, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "keys"), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := (&KeyFile{Count: tt.count, dir: dir}).Open()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
			}
			if err == io.EOF || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// benchKeys is the bench helper's diff row size (cmd/bench -diff-keys).
const benchKeys = 200_000

// BenchmarkSnapshotKeys200k measures the two halves of the gate's diff
// summary over a real etcd's snapshot of 200k keys: the child's walk, sort
// and write of the live keys (run here in-process so its allocations are
// counted), and the parent's streaming merge of that file against a listing
// of the same keys. Allocations, not time, are the point: B/op stays near
// the key bytes written, and no step holds the list (the runs point into
// bbolt's mapping and the parent holds one key per side).
func BenchmarkSnapshotKeys200k(b *testing.B) {
	m := startEtcd(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	val := strings.Repeat("v", 256)
	for i := 0; i < benchKeys; i += 128 { // etcd's default --max-txn-ops
		var ops []clientv3.Op
		for j := i; j < min(benchKeys, i+128); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/configmaps/ns-%03d/cm-%07d", j%100, j), val))
		}
		if _, err := m.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	path := filepath.Join(b.TempDir(), "snap.db")
	if _, err := Save(ctx, clientv3.Config{}, m.endpoint, path); err != nil {
		b.Fatal(err)
	}
	keysFile := func(b *testing.B) *KeyFile {
		dir := b.TempDir()
		rev, n, err := childKeys(path, filepath.Join(dir, "keys"))
		if err != nil || n != benchKeys {
			b.Fatalf("%d keys, %v", n, err)
		}
		return &KeyFile{Revision: rev, Count: n, dir: dir}
	}
	b.Run("child walk, sort and write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			keysFile(b)
		}
	})
	b.Run("parent streaming merge", func(b *testing.B) {
		kf := keysFile(b)
		b.ReportAllocs()
		for b.Loop() {
			snap, _ := kf.Open()
			live, _ := kf.Open()
			mg := NewStreamMerger(snap)
			for {
				k, err := live.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				if err := mg.Live(k); err != nil {
					b.Fatal(err)
				}
			}
			if d := mg.Diff(kf.Revision, kf.Revision); mg.Err() != nil || mg.Seen() != benchKeys || len(d.Dropped)+len(d.BroughtBack)+len(d.RolledBack) != 0 {
				b.Fatalf("seen %d, err %v, diff %+v", mg.Seen(), mg.Err(), d)
			}
			snap.Close()
			live.Close()
		}
	})
}

// TestRadixSortIsAStableSortByTheAbbreviation compares the radix sort with
// the library's stable sort on abbreviations that share most bytes (the
// passes it skips) and differ in a few (the passes it makes).
func TestRadixSortIsAStableSortByTheAbbreviation(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		a0, a1 func(i int) uint64
	}{
		{"all equal", 100, func(int) uint64 { return 7 }, func(int) uint64 { return 7 }},
		{"differing in the low bytes only", 5000, func(int) uint64 { return 1 << 60 }, func(i int) uint64 { return uint64(i*7919) % 251 }},
		{"differing in the high bytes only", 5000, func(i int) uint64 { return uint64(i*104729%65521) << 40 }, func(int) uint64 { return 0 }},
		{"every byte varies", 5000, func(i int) uint64 { return uint64(i) * 0x9e3779b97f4a7c15 }, func(i int) uint64 { return uint64(i%13) * 0xbf58476d1ce4e5b9 }},
		{"one item", 1, func(int) uint64 { return 3 }, func(int) uint64 { return 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := make([]sortItem, tt.n)
			for i := range items {
				items[i] = sortItem{tt.a0(i), tt.a1(i), uint32(i)}
			}
			want := slices.Clone(items)
			slices.SortStableFunc(want, func(a, b sortItem) int {
				if c := cmp.Compare(a.a0, b.a0); c != 0 {
					return c
				}
				return cmp.Compare(a.a1, b.a1)
			})
			radixSort(items, make([]sortItem, len(items)))
			if !slices.Equal(items, want) {
				t.Error("the radix sort's order differs from a stable sort's")
			}
		})
	}
}
