package snapshot

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestStorageVersionIsReadFromTheMetaBucketAndEmptyBeforeEtcd36(t *testing.T) {
	for _, tt := range []struct{ name, stored string }{
		{"a snapshot saved by etcd 3.7 says 3.7.0", "3.7.0"},
		{"one saved by etcd 3.5 records none", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "db")
			db, err := bolt.Open(p, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				if _, err := tx.CreateBucket([]byte("key")); err != nil {
					return err
				}
				meta, err := tx.CreateBucket([]byte("meta"))
				if err != nil || tt.stored == "" {
					return err
				}
				return meta.Put([]byte("storageVersion"), []byte(tt.stored))
			})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			got, err := StorageVersion(p)
			if err != nil || got != tt.stored {
				t.Fatalf("StorageVersion = %q, %v; want %q", got, err, tt.stored)
			}
		})
	}
}
