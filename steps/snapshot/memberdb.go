package snapshot

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/config/safefile"
)

// A member's data dir holds its keyspace in member/snap/db, a bbolt file
// etcd writes in place: no sha256 trailer (only `etcdctl snapshot save`
// appends one), and a file bbolt grows ahead of use, so larger than the
// database its meta page describes. etcdutl restores such a file only with
// --skip-hash-check (copyAndVerifyDB: "snapshot missing hash but
// --skip-hash-check=false"). What proves it whole instead is bbolt's own
// consistency check over every page, done here before any use.

// DBInfo describes a member's db file (a copy of member/snap/db).
type DBInfo struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`   // bytes of the file
	SHA256 string `json:"sha256"` // of the whole file, to check every copy against
	// Revision and Keys as etcdutl's Status reads them.
	Revision int64 `json:"revision"`
	Keys     int   `json:"keys"`
	// ConsistentIndex is the last raft entry applied to this db (meta
	// bucket "consistent_index"); Term its term (etcd 3.5+, else 0).
	ConsistentIndex uint64 `json:"consistentIndex"`
	Term            uint64 `json:"term,omitempty"`
	Version         string `json:"version,omitempty"` // storage version ("3.6.0")
}

// dbFacts is what the child reads from a member's db.
type dbFacts struct {
	Status          etcdutl.Status `json:"status"`
	ConsistentIndex uint64         `json:"consistentIndex"`
	Term            uint64         `json:"term"`
}

// VerifyMemberDB checks a copy of a member's db without writing it: bbolt
// header, not truncated, bbolt's consistency check, etcd buckets, then
// revision, keys and consistent index. No trailer is expected; one that is
// there is not checked (the db is restored with --skip-hash-check).
func VerifyMemberDB(path string) (DBInfo, error) {
	f, st, err := safefile.Open(path, 0)
	if err != nil {
		return DBInfo{}, &Error{path, ErrNotFound, err.Error()}
	}
	defer f.Close()
	info := DBInfo{Path: path, Size: st.Size()}
	if info.Size == 0 {
		return DBInfo{}, &Error{path, ErrEmpty, "0 bytes: the member's db was not copied"}
	}
	meta, err := readBoltMeta(f, info.Size)
	if err != nil {
		return DBInfo{}, &Error{path, ErrNotBolt, err.Error()}
	}
	if info.Size < meta.dbSize() {
		return DBInfo{}, &Error{path, ErrTruncated, fmt.Sprintf("the database needs %d bytes but the copy has %d: copy it again",
			meta.dbSize(), info.Size)}
	}
	res, err := inChild(modeMemberDB, path, info.Size)
	switch {
	case res.Locked:
		return DBInfo{}, &Error{path, ErrInUse, "another process holds its lock: a running etcd; stop the member first"}
	case res.NotEtc != "":
		return DBInfo{}, &Error{path, ErrNotEtcd, res.NotEtc}
	case err != nil:
		return DBInfo{}, &Error{path, ErrDamaged, err.Error()}
	}
	h := sha256.New()
	if err := hashRange(h, f, info.Size); err != nil {
		return DBInfo{}, &Error{path, ErrNotFound, fmt.Sprintf("read: %v", err)}
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	d := res.DB
	info.Revision, info.Keys, info.Version = d.Status.Revision, d.Status.TotalKey, d.Status.Version
	info.ConsistentIndex, info.Term = d.ConsistentIndex, d.Term
	return info, nil
}

// childMemberDB runs bbolt's check, then reads the consistent index and
// etcdutl's Status, in the child (a damaged file crashes bbolt).
func childMemberDB(path string) (dbFacts, error) {
	if err := childCheck(path); err != nil {
		return dbFacts{}, fmt.Errorf("bbolt consistency check: %w", err)
	}
	db, err := openReadOnly(path)
	if err != nil {
		return dbFacts{}, err
	}
	var out dbFacts
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if v := b.Get([]byte("consistent_index")); len(v) == 8 {
			out.ConsistentIndex = binary.BigEndian.Uint64(v)
		}
		if v := b.Get([]byte("term")); len(v) == 8 {
			out.Term = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	db.Close()
	if err != nil {
		return dbFacts{}, err
	}
	out.Status, err = etcdutl.NewV3(zap.NewNop()).Status(path)
	return out, err
}
