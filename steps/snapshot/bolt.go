package snapshot

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
)

// bbolt's on-disk layout (go.etcd.io/bbolt internal/common): a page starts
// with a 16-byte header; pages 0 and 1 hold the two meta copies. Read here
// directly so a damaged file is judged before bbolt maps it: bbolt and
// etcdutl's Status assume the file is whole and fault on a short one.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64 // magic..checksum
	metaSumLen     = 56 // fnv64a covers the meta up to its checksum
)

// boltMeta is the part of a bbolt meta page Verify needs.
type boltMeta struct {
	pageSize uint32
	pgid     uint64 // high water mark: pages in use, so the database size
	txid     uint64
}

// dbSize is the size of the database the meta describes: what a snapshot's
// body must hold (the server streams exactly pgid*pageSize bytes).
func (m boltMeta) dbSize() int64 { return int64(m.pgid) * int64(m.pageSize) }

// readBoltMeta returns the newest valid meta page, as bbolt picks it, or
// why there is none.
func readBoltMeta(f *os.File, size int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	if size < int64(len(buf)) {
		return boltMeta{}, fmt.Errorf("%d bytes is too short to hold a database header", size)
	}
	if _, err := f.ReadAt(buf, 0); err != nil {
		return boltMeta{}, fmt.Errorf("read header: %w", err)
	}
	m0, err0 := parseMeta(buf[pageHeaderSize:])
	if err0 != nil && binary.LittleEndian.Uint32(buf[pageHeaderSize:]) != boltMagic {
		return boltMeta{}, fmt.Errorf("no bbolt header at the start (random or foreign data)")
	}
	// The second meta page sits one page in; its size comes from the first
	// meta, or, when that is damaged, from the sizes bbolt writes.
	sizes := []uint32{4096, 8192, 16384, 32768, 65536}
	if err0 == nil {
		sizes = []uint32{m0.pageSize}
	}
	var m1 boltMeta
	err1 := fmt.Errorf("second meta page not found")
	for _, ps := range sizes {
		if int64(ps)+int64(len(buf)) > size {
			continue
		}
		if _, err := f.ReadAt(buf, int64(ps)); err != nil {
			return boltMeta{}, fmt.Errorf("read second meta page: %w", err)
		}
		if m1, err1 = parseMeta(buf[pageHeaderSize:]); err1 == nil && m1.pageSize == ps {
			break
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("both bbolt meta pages are damaged (%v; %v)", err0, err1)
	case err0 != nil:
		return m1, nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, nil
	default:
		return m1, nil
	}
}

func parseMeta(b []byte) (boltMeta, error) {
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != boltMagic {
		return boltMeta{}, fmt.Errorf("bad magic")
	}
	if v := le.Uint32(b[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:metaSumLen])
	if h.Sum64() != le.Uint64(b[metaSumLen:]) {
		return boltMeta{}, fmt.Errorf("meta checksum mismatch")
	}
	m := boltMeta{pageSize: le.Uint32(b[8:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("implausible page size %d", m.pageSize)
	}
	if m.pgid < 2 {
		return boltMeta{}, fmt.Errorf("implausible page count %d", m.pgid)
	}
	return m, nil
}
