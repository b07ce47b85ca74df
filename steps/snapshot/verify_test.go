package snapshot

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

func TestVerifyAgreesWithEtcdutlOnASavedSnapshot(t *testing.T) {
	path, _ := savedSnapshot(t, 200)
	info, err := Verify(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := etcdutl.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != want.Revision || info.TotalKeys != want.TotalKey || info.Hash != want.Hash ||
		info.TotalSize != want.TotalSize || info.Version != want.Version {
		t.Errorf("Verify = %+v\netcdutl Status = %+v", info, want)
	}
	if info.TotalKeys != 202 || !info.TrailerOK || !info.SidecarOK || info.Version == "" || info.Size != info.TotalSize+sha256.Size {
		t.Errorf("info = %+v", info)
	}
	if sum := sha256.Sum256(readFile(t, path)); info.SHA256 != hexOf(sum[:]) {
		t.Errorf("SHA256 = %s, want the whole file's", info.SHA256)
	}
}

// variant makes a damaged copy of a good snapshot in dir and returns its path.
type variant func(t *testing.T, good []byte, dir string) string

// write puts data at dir/snap.db.
func write(t *testing.T, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "snap.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// retrail replaces the trailer with the sha256 of the (changed) body, as a
// careless or hostile editor would.
func retrail(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(append([]byte{}, body...), sum[:]...)
}

func flip(b []byte, at int) []byte {
	c := append([]byte{}, b...)
	c[at] ^= 0x40
	return c
}

// body copies the snapshot without its trailer.
func body(good []byte) []byte { return append([]byte{}, good[:len(good)-sha256.Size]...) }

func TestVerifyRefusesDamagedSnapshots(t *testing.T) {
	good, goodMeta := func() ([]byte, []byte) {
		p, _ := savedSnapshot(t, 100)
		return readFile(t, p), readFile(t, MetaPath(p))
	}()
	const page = 4096
	tests := []struct {
		name   string
		make   variant
		reason error
		detail string
	}{
		{"a missing file", func(t *testing.T, _ []byte, dir string) string { return filepath.Join(dir, "none.db") },
			ErrNotFound, "no such file"},
		{"a directory", func(t *testing.T, _ []byte, dir string) string { return dir }, ErrNotFound, "not a regular file"},
		{"an empty file", func(t *testing.T, _ []byte, dir string) string { return write(t, dir, nil) },
			ErrEmpty, "0 bytes"},
		{"random bytes", func(t *testing.T, _ []byte, dir string) string {
			b := make([]byte, 8*page+sha256.Size)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			return write(t, dir, b)
		}, ErrNotBolt, "no bbolt header"},
		{"a text file", func(t *testing.T, _ []byte, dir string) string {
			return write(t, dir, []byte(strings.Repeat("apiVersion: v1\nkind: Pod\n", 100)))
		}, ErrNotBolt, "no bbolt header"},
		{"truncated to half", func(t *testing.T, g []byte, dir string) string { return write(t, dir, g[:len(g)/2]) },
			ErrTruncated, "the copy was cut short"},
		{"truncated by one page", func(t *testing.T, g []byte, dir string) string { return write(t, dir, body(g)[:len(body(g))-page]) },
			ErrTruncated, "4096 missing"},
		{"truncated inside the first page", func(t *testing.T, g []byte, dir string) string { return write(t, dir, g[:1000]) },
			ErrTruncated, "the file has 1000"},
		{"without its trailer", func(t *testing.T, g []byte, dir string) string { return write(t, dir, body(g)) },
			ErrNoTrailer, "not written by etcdctl snapshot save, or truncated (it is a whole etcd database"},
		{"with a wrong trailer", func(t *testing.T, g []byte, dir string) string {
			return write(t, dir, append(body(g), make([]byte, sha256.Size)...))
		}, ErrTrailerMismatch, "changed or damaged after it was saved (the structure is intact"},
		{"with a flipped byte in the body", func(t *testing.T, g []byte, dir string) string { return write(t, dir, flip(g, len(g)/2)) },
			ErrTrailerMismatch, "changed or damaged after it was saved"},
		{"with a flipped byte in the first meta page", func(t *testing.T, g []byte, dir string) string { return write(t, dir, flip(g, 40)) },
			ErrTrailerMismatch, "changed or damaged after it was saved"},
		{"with both meta pages damaged", func(t *testing.T, g []byte, dir string) string {
			return write(t, dir, flip(flip(g, 16+60), page+16+60))
		}, ErrNotBolt, "both bbolt meta pages are damaged"},
		{"changed with a recomputed trailer, caught by the sidecar", func(t *testing.T, g []byte, dir string) string {
			p := write(t, dir, retrail(flip(body(g), len(g)-100)))
			if err := os.WriteFile(MetaPath(p), goodMeta, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrSidecarMismatch, "its trailer agrees with the change"},
		{"a corrupt sidecar", func(t *testing.T, g []byte, dir string) string {
			p := write(t, dir, g)
			if err := os.WriteFile(MetaPath(p), []byte("{"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrSidecarMismatch, "is unreadable"},
		{"pages zeroed with a recomputed trailer", func(t *testing.T, g []byte, dir string) string {
			b := append([]byte{}, body(g)...)
			clear(b[2*page:])
			return write(t, dir, retrail(b))
		}, ErrDamaged, ""},
		{"another program's bbolt database", func(t *testing.T, _ []byte, dir string) string {
			p := boltFile(t, dir)
			return write(t, dir, retrail(readFile(t, p)))
		}, ErrNotEtcd, `no "key" bucket`},
		{"another program's bbolt database without trailer", func(t *testing.T, _ []byte, dir string) string {
			return write(t, dir, readFile(t, boltFile(t, dir)))
		}, ErrNoTrailer, "holds no etcd data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.make(t, good, dir)
			before := listing(t, dir)
			info, err := Verify(path)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", info)
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.reason) {
				t.Fatalf("error = %v, want reason %v", err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.detail) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %q, want one line containing %q", err, tt.detail)
			}
			if after := listing(t, dir); after != before {
				t.Errorf("Verify wrote to the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// boltFile writes a bbolt database with no etcd buckets in dir.
func boltFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "other.bolt")
	db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("users"))
		if err != nil {
			return err
		}
		return b.Put([]byte("alice"), []byte("admin"))
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	// bbolt grows files ahead of use; a snapshot body is exactly the pages in use.
	var size int64
	db, err = bolt.Open(p, 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	db.Close()
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	return p
}

// listing describes every entry of dir: name, size, mode and mtime.
func listing(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %v %v %d; ", fi.Name(), fi.Mode(), fi.ModTime(), fi.Size())
	}
	return b.String()
}

func TestTheChildTurnsBboltCrashesIntoReasons(t *testing.T) {
	good, _ := savedSnapshot(t, 10)
	g := readFile(t, good)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"a truncated file makes bbolt fault on a missing page", body(g)[:len(body(g))/2], "SIGBUS"},
		{"zeroed pages trip a bbolt assertion", func() []byte { b := body(g); clear(b[2*4096:]); return b }(), "panic: assertion failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), tt.data)
			_, err := inChild(modeStatus, p, int64(len(tt.data)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVerifyNamesAFileLockedByARunningProcess(t *testing.T) {
	good, _ := savedSnapshot(t, 10)
	tests := []struct {
		name   string
		lock   func(t *testing.T, path string)
		reason error
		detail string
	}{
		{"a snapshot someone holds a bbolt lock on", func(t *testing.T, path string) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
		}, ErrInUse, "take a snapshot instead"},
		{"a live database opened by bbolt, as etcd holds member/snap/db", func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, ErrTrailerMismatch, "holds its lock: this is a live data file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, t.TempDir(), readFile(t, good))
			tt.lock(t, p)
			_, err := Verify(p)
			if !errors.Is(err, tt.reason) || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("error = %v, want %v with %q", err, tt.reason, tt.detail)
			}
		})
	}
}
