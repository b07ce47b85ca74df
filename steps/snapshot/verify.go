// Package snapshot proves an etcd snapshot file is whole and is an etcd
// database before anything destructive is done with it, and saves new
// snapshots from a live member without ever overwriting a file.
//
// etcdctl snapshot save appends the sha256 of the database to the file.
// etcdutl's Status does not check it, and Restore checks it only after it has
// created the new data dir; Verify checks it first, reads the bbolt header
// itself so a short or foreign file yields a reason instead of a crash, and
// only then asks etcdutl's Status for revision, keys and hash.
package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"golang.org/x/sys/unix"

	"github.com/etcd-dr/etcd-dr/config/safefile"
)

// Reasons a snapshot is refused. Verify's errors wrap exactly one of these
// (test with errors.Is) and add what was seen and what to do.
var (
	ErrNotFound        = errors.New("cannot read the snapshot file")
	ErrEmpty           = errors.New("empty file")
	ErrNotBolt         = errors.New("not an etcd snapshot")
	ErrTruncated       = errors.New("truncated")
	ErrNoTrailer       = errors.New("no sha256 trailer")
	ErrTrailerMismatch = errors.New("sha256 trailer does not match")
	ErrSidecarMismatch = errors.New("does not match the hash recorded when it was saved")
	ErrNotEtcd         = errors.New("a bbolt database but not an etcd snapshot")
	ErrDamaged         = errors.New("database structure is damaged")
	ErrInUse           = errors.New("in use by a running process")
	ErrTrailingData    = errors.New("trailing data")
)

// Error is a refused snapshot: the file, the reason (one of the Err values
// above) and the detail an operator acts on.
type Error struct {
	Path   string
	Reason error
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("snapshot %s: %v", e.Path, e.Reason)
	}
	return fmt.Sprintf("snapshot %s: %v: %s", e.Path, e.Reason, e.Detail)
}

func (e *Error) Unwrap() error { return e.Reason }

// Info describes a verified snapshot.
type Info struct {
	Path      string
	Size      int64  // bytes of the whole file
	SHA256    string // hex sha256 of the whole file (body and trailer)
	TrailerOK bool   // the appended sha256 matches the body
	// Sidecar is the FILE.meta.json written when the snapshot was saved, nil
	// when there is none. SidecarOK: its sha256 equals the file's.
	Sidecar   *Meta
	SidecarOK bool
	Revision  int64
	TotalKeys int
	TotalSize int64  // bytes of the database (the body)
	Hash      uint32 // etcdutl's crc32 of all buckets, as `etcdutl snapshot status` prints it
	Version   string // storage version ("3.6.0"); empty before etcd 3.6
	ModTime   time.Time
}

// Verify checks a snapshot file without writing anything anywhere: bbolt
// header, size, sha256 trailer, sidecar (when present), etcd buckets, then
// etcdutl's Status. Every refusal is an *Error with a one-line reason.
func Verify(path string) (Info, error) {
	info, err := verifyFile(path)
	if err != nil {
		return Info{}, err
	}
	m, err := ReadMeta(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return info, nil
	case err != nil:
		return Info{}, &Error{path, ErrSidecarMismatch, fmt.Sprintf("sidecar %s is unreadable (%v): restore it or move it away to verify without it", MetaPath(path), err)}
	}
	info.Sidecar = &m
	if m.SHA256 != info.SHA256 {
		return Info{}, &Error{path, ErrSidecarMismatch, fmt.Sprintf("sha256 is %s, %s recorded %s: the file changed after it was saved, and its trailer agrees with the change (recomputed, or another snapshot under this name); use another snapshot",
			short(info.SHA256), MetaPath(path), short(m.SHA256))}
	}
	info.SidecarOK = true
	return info, nil
}

// verifyFile is Verify without the sidecar: what Save checks before it
// writes one.
func verifyFile(path string) (Info, error) {
	// A FIFO named as the snapshot must not hang the console at open.
	f, st, err := safefile.Open(path, 0)
	if err != nil {
		return Info{}, &Error{path, ErrNotFound, err.Error()}
	}
	defer f.Close()
	info := Info{Path: path, Size: st.Size(), ModTime: st.ModTime()}
	if info.Size == 0 {
		return Info{}, &Error{path, ErrEmpty, "0 bytes: the save never wrote it, or it was truncated to nothing; use another snapshot"}
	}
	meta, err := readBoltMeta(f, info.Size)
	if err != nil {
		return Info{}, &Error{path, ErrNotBolt, err.Error()}
	}
	if info.Size < meta.dbSize() {
		return Info{}, &Error{path, ErrTruncated, fmt.Sprintf("the database needs %d bytes but the file has %d (%d missing): the copy was cut short; copy it again or use another snapshot",
			meta.dbSize(), info.Size, meta.dbSize()-info.Size)}
	}
	// Checked before hashing: a database padded to gigabytes would be
	// hashed for minutes only to be refused (the page count says where
	// the database ends; a snapshot is that plus its 32-byte trailer).
	if extra := info.Size - meta.dbSize() - sha256.Size; extra > 0 {
		return Info{}, &Error{path, ErrTrailingData, fmt.Sprintf("%d bytes after the %d-byte database and its 32-byte sha256 trailer (the database's own page count says where it ends): the file was padded or appended to, or it is a live member's db file, which bbolt grows ahead of use; copy the snapshot again, or take one with etcd-dr snapshot save",
			extra, meta.dbSize())}
	}
	// The child reads the database while this process hashes it: the child
	// is isolated, so reading a file the hash will reject is harmless, and
	// the two passes overlap on separate cores.
	type result struct {
		st  etcdutl.Status
		err error
	}
	status := make(chan result, 1)
	go func() {
		st, err := inspect(path, info.Size)
		status <- result{st, err}
	}()
	if err := checkTrailer(f, &info, meta); err != nil {
		<-status
		return Info{}, err
	}
	r := <-status
	if r.err != nil {
		return Info{}, r.err
	}
	st2 := r.st
	info.Revision, info.TotalKeys, info.TotalSize, info.Hash, info.Version = st2.Revision, st2.TotalKey, st2.TotalSize, st2.Hash, st2.Version
	return info, nil
}

// checkTrailer hashes the file once: the body, compared with the 32-byte
// trailer etcdctl appends, and, continuing the same hash over the trailer,
// the whole file (Info.SHA256).
func checkTrailer(f *os.File, info *Info, meta boltMeta) error {
	path := info.Path
	h := sha256.New()
	bodyLen := info.Size
	trailed := hasChecksum(info.Size)
	if trailed {
		bodyLen -= sha256.Size
	}
	if err := hashRange(h, f, bodyLen); err != nil {
		return &Error{path, ErrNotFound, fmt.Sprintf("read: %v", err)}
	}
	bodySum := h.Sum(nil) // Sum leaves the running hash as it was
	trailer := make([]byte, info.Size-bodyLen)
	if _, err := f.ReadAt(trailer, bodyLen); err != nil && len(trailer) > 0 {
		return &Error{path, ErrNotFound, fmt.Sprintf("read trailer: %v", err)}
	}
	h.Write(trailer)
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	if !trailed {
		return &Error{path, ErrNoTrailer, "not written by etcdctl snapshot save, or truncated" + noTrailerHint(path, info.Size, meta)}
	}
	if !bytes.Equal(trailer, bodySum) {
		return &Error{path, ErrTrailerMismatch, "the file was changed or damaged after it was saved" + mismatchHint(path, info.Size) + "; use another snapshot"}
	}
	info.TrailerOK = true
	return nil
}

// Reading and hashing overlap: one goroutine reads hashChunk-sized pieces
// ahead into hashChunks buffers while this one hashes. SHA-256 is the
// floor of Verify on a large snapshot (one core, ~2 GB/s with SHA-NI), so
// the copy out of the page cache must not add to it.
const (
	hashChunk  = 1 << 20
	hashChunks = 4
)

// hashRange writes f's first n bytes to h.
func hashRange(h io.Writer, f *os.File, n int64) error {
	// Tell the kernel to read ahead aggressively; advice only.
	_ = unix.Fadvise(int(f.Fd()), 0, n, unix.FADV_SEQUENTIAL)
	free := make(chan []byte, hashChunks)
	full := make(chan []byte, hashChunks)
	for range hashChunks {
		free <- make([]byte, hashChunk)
	}
	readErr := make(chan error, 1)
	go func() { // never blocks: at most hashChunks buffers exist
		defer close(full)
		for off := int64(0); off < n; {
			b := <-free
			b = b[:min(int64(len(b)), n-off)]
			if _, err := f.ReadAt(b, off); err != nil {
				readErr <- err
				return
			}
			off += int64(len(b))
			full <- b
		}
		readErr <- nil
	}()
	for b := range full {
		h.Write(b)
		free <- b[:cap(b)]
	}
	return <-readErr
}

// noTrailerHint says what the file most likely is, so the operator knows
// whether --skip-hash-check would even make sense.
func noTrailerHint(path string, size int64, meta boltMeta) string {
	res, err := inChild(modeEtcd, path, size)
	switch {
	case res.Locked:
		return " (a running process, likely etcd, holds its lock: this is a live data file; take a snapshot instead)"
	case err != nil || res.NotEtc != "":
		return " (and it holds no etcd data)"
	}
	if size == meta.dbSize() {
		return " (it is a whole etcd database, e.g. a copy of member/snap/db, whose integrity cannot be proven)"
	}
	return fmt.Sprintf(" (%d bytes beyond the %d-byte database)", size-meta.dbSize(), meta.dbSize())
}

// mismatchHint tells whether bbolt also finds the structure damaged.
func mismatchHint(path string, size int64) string {
	res, err := inChild(modeCheck, path, size)
	switch {
	case res.Locked:
		return " (a running process, likely etcd, holds its lock: this is a live data file, not a snapshot)"
	case err != nil:
		return " (the database structure is damaged too: " + err.Error() + ")"
	}
	return " (the structure is intact, so the damage is in stored data or in the trailer itself)"
}

// inspect asks the child for etcd's buckets and etcdutl's Status.
func inspect(path string, size int64) (etcdutl.Status, error) {
	res, err := inChild(modeStatus, path, size)
	switch {
	case err != nil:
		return etcdutl.Status{}, &Error{path, ErrDamaged, err.Error() + "; use another snapshot"}
	case res.Locked:
		return etcdutl.Status{}, &Error{path, ErrInUse, "another process (a running etcd?) holds its lock: this is a live data file, not a snapshot; take a snapshot instead"}
	case res.NotEtc != "":
		return etcdutl.Status{}, &Error{path, ErrNotEtcd, res.NotEtc}
	}
	return res.Status, nil
}

// hasChecksum is etcd's test for an appended sha256 (client/v3/snapshot and
// etcdutl/snapshot): databases are whole pages, so a size 32 past a multiple
// of 512 means a trailer.
func hasChecksum(n int64) bool { return n%512 == sha256.Size }

// oneLine keeps the first line of a multi-line library error.
func oneLine(s string) string {
	if i := bytes.IndexByte([]byte(s), '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// short abbreviates a hex digest for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
