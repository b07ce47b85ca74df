package snapshot

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// FuzzVerify damages a real snapshot (bytes overwritten at an offset, the
// file cut, the trailer optionally recomputed so the damage reaches bbolt)
// and checks Verify, Inspect and SnapshotKeys never crash, never write, and
// refuse with a reason.
func FuzzVerify(f *testing.F) {
	path, _ := savedSnapshot(f, 20)
	good := readFile(f, path)
	f.Add(uint32(0), []byte{}, uint32(0), false)
	f.Add(uint32(len(good)/2), []byte{0xff}, uint32(0), false)
	f.Add(uint32(len(good)/2), []byte{0xff}, uint32(0), true)
	f.Add(uint32(0), []byte{}, uint32(len(good)/2), false)
	f.Add(uint32(0), []byte{}, uint32(len(good)/2), true)
	f.Add(uint32(8192), make([]byte, 4096), uint32(0), true)
	f.Add(uint32(16), []byte{1, 2, 3, 4}, uint32(0), false)
	f.Fuzz(func(t *testing.T, off uint32, patch []byte, cut uint32, retrailer bool) {
		data := body(good)
		if n := len(data); n > 0 {
			copy(data[int(off)%n:], patch)
		}
		if cut > 0 {
			data = data[:int(cut)%len(data)]
		}
		if retrailer {
			data = retrail(data)
		} else {
			data = append(data, good[len(good)-32:]...)
		}
		dir := t.TempDir()
		p := write(t, dir, data)
		before := listing(t, dir)
		info, err := Verify(p)
		if after := listing(t, dir); after != before {
			t.Fatalf("Verify wrote to the directory")
		}
		// Inspect and SnapshotKeys (diff's side) skip the trailer, so they
		// meet damage Verify would stop first: a reason or a result, never
		// a crash or a write.
		for name, read := range map[string]func(string) error{
			"Inspect":      func(p string) error { _, err := Inspect(p); return err },
			"SnapshotKeys": func(p string) error { _, err := SnapshotKeys(p); return err },
		} {
			var e *Error
			if rerr := read(p); rerr != nil && (!errors.As(rerr, &e) || e.Reason == nil) {
				t.Fatalf("%s: error without a reason: %v", name, rerr)
			}
			if after := listing(t, dir); after != before {
				t.Fatalf("%s wrote to the directory", name)
			}
		}
		if err == nil {
			if !info.TrailerOK {
				t.Fatalf("accepted without a trailer check: %+v", info)
			}
			if !retrailer && !bytes.Equal(data[:len(data)-sha256.Size], body(good)) {
				t.Fatalf("accepted a changed body under the original trailer")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason == nil {
			t.Fatalf("error without a reason: %v", err)
		}
	})
}

// BenchmarkVerify compares Verify (trailer, header, child process running
// Status) and Inspect (the keyspace, in a child) with etcdutl's Status alone
// on the same file. SNAPSHOT_BENCH_FILE
// points it at a larger snapshot (make bench uses a 1 GiB one).
func BenchmarkVerify(b *testing.B) {
	path := os.Getenv("SNAPSHOT_BENCH_FILE")
	if path == "" {
		saved, _ := savedSnapshot(b, 5000)
		path = filepath.Join(b.TempDir(), "bench.db")
		if err := os.WriteFile(path, readFile(b, saved), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Verify", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			if _, err := Verify(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Inspect", func(b *testing.B) {
		b.SetBytes(st.Size())
		for b.Loop() {
			if _, err := Inspect(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("etcdutl-Status", func(b *testing.B) {
		b.SetBytes(st.Size())
		m := etcdutl.NewV3(zap.NewNop())
		for b.Loop() {
			if _, err := m.Status(path); err != nil {
				b.Fatal(err)
			}
		}
	})
}
