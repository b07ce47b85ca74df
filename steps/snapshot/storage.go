package snapshot

import (
	bolt "go.etcd.io/bbolt"
)

// StorageVersion is the storage schema version the snapshot records
// ("3.6.0"), as etcd's server/storage/schema reads it: key "storageVersion"
// of the "meta" bucket, written by etcd 3.6 and later. "" means none was
// recorded (etcd 3.5 and older). An etcd whose minor version is below it
// refuses to start on the restored data ("Failed to validate schema:
// version "3.7.0" is not supported"), and etcdutl restores it without a
// word, so preflight compares it with every member's etcd.
func StorageVersion(path string) (string, error) {
	res, err := inspectChild(modeStorage, path)
	if err != nil {
		return "", err
	}
	return res.StorageVersion, nil
}

func childStorageVersion(path string) (string, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	err = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("meta")); b != nil {
			v = string(b.Get([]byte("storageVersion")))
		}
		return nil
	})
	return v, err
}
