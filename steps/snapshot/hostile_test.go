package snapshot

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// verifyWithin runs Verify, failing the test instead of hanging it when a
// file makes Verify block (a FIFO opened without a writer blocks forever).
func verifyWithin(t *testing.T, path string) (Info, error) {
	t.Helper()
	type result struct {
		info Info
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := Verify(path)
		done <- result{info, err}
	}()
	select {
	case r := <-done:
		return r.info, r.err
	case <-time.After(2 * time.Minute): // Verify of a small file takes well under a second even on a loaded CI machine
		t.Fatalf("Verify(%s) still blocked after 2 minutes", path)
		return Info{}, nil
	}
}

func TestVerifyRefusesFilesThatAreNotWhatTheySayWithoutHangingOrFillingMemory(t *testing.T) {
	goodBytes := etcdShapedSnapshot(t, kvBytes(t, "/registry/configmaps/default/a", "{}"))
	tests := []struct {
		name   string
		make   func(t *testing.T, dir string) string
		reason error
		detail string
	}{
		{"a FIFO named as the snapshot", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "snap.db")
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrNotFound, "named pipe (FIFO)"},
		{"a FIFO as the sidecar", func(t *testing.T, dir string) string {
			p := write(t, dir, goodBytes)
			if err := syscall.Mkfifo(MetaPath(p), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrSidecarMismatch, "named pipe (FIFO)"},
		{"a sidecar linked to /dev/zero", func(t *testing.T, dir string) string {
			p := write(t, dir, goodBytes)
			if err := os.Symlink("/dev/zero", MetaPath(p)); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrSidecarMismatch, "character device"},
		{"a sidecar of 4 GiB", func(t *testing.T, dir string) string {
			p := write(t, dir, goodBytes)
			if err := os.WriteFile(MetaPath(p), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(MetaPath(p), 4<<30); err != nil { // sparse: no disk used
				t.Fatal(err)
			}
			return p
		}, ErrSidecarMismatch, "too large"},
		{"a snapshot padded to 10 GiB after its trailer", func(t *testing.T, dir string) string {
			p := write(t, dir, goodBytes)
			if err := os.Truncate(p, 10<<30); err != nil { // sparse
				t.Fatal(err)
			}
			return p
		}, ErrTrailingData, "after the"},
		{"a snapshot with a few bytes appended", func(t *testing.T, dir string) string {
			return write(t, dir, append(append([]byte{}, goodBytes...), "appended"...))
		}, ErrTrailingData, "8 bytes after the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.make(t, dir)
			info, err := verifyWithin(t, path)
			if err == nil {
				t.Fatalf("Verify accepted it: %+v", info)
			}
			if !errors.Is(err, tt.reason) || !strings.Contains(err.Error(), tt.detail) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error = %q, want one line with reason %q saying %q", err, tt.reason, tt.detail)
			}
		})
	}
}

func TestADamagedValueIsReportedWithoutPrintingTheValue(t *testing.T) {
	const secret = "TOPSECRET-d2hhdCBhIHNlY3JldA"
	// A stored value that is not a KeyValue: etcdutl's error quotes it.
	path := write(t, t.TempDir(), etcdShapedSnapshot(t, []byte(`{"kind":"Secret","data":{"password":"`+secret+`"}}`)))
	_, err := verifyWithin(t, path)
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Verify = %v, want ErrDamaged", err)
	}
	if strings.Contains(err.Error(), "TOPSECRET") {
		t.Fatalf("the error shows the stored value: %s", err)
	}
	if !strings.Contains(err.Error(), "withheld") {
		t.Errorf("the error does not say a value was withheld: %s", err)
	}
}

// kvBytes is a stored etcd KeyValue.
func kvBytes(t *testing.T, key, value string) []byte {
	t.Helper()
	b, err := proto.Marshal(&mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: 2, ModRevision: 2, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// etcdShapedSnapshot is a snapshot file made with bbolt alone, no etcd
// server: the buckets etcd's Status reads, one revision in the key bucket
// holding stored, trimmed to the pages in use and with its sha256 trailer,
// as etcdctl snapshot save writes them.
func etcdShapedSnapshot(t *testing.T, stored []byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "db")
	db, err := bolt.Open(p, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rev := make([]byte, 17)
	binary.BigEndian.PutUint64(rev, 2)
	rev[8] = '_'
	err = db.Update(func(tx *bolt.Tx) error {
		kb, err := tx.CreateBucket([]byte("key"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("meta")); err != nil {
			return err
		}
		return kb.Put(rev, stored)
	})
	var size int64
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil })
	}
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	b := readFile(t, p)[:size]
	return retrail(b)
}
