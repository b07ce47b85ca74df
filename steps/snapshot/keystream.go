package snapshot

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
)

// The step-2 gate diffs a snapshot of up to a million keys (and more
// revisions) against the live etcd. Holding every key in a map, then in a
// sorted list, then in one JSON document in the child and again in the parent
// cost 63× a bare cursor walk and grew without bound. Here the child walks
// the key bucket once, decodes only the key and its revisions (never the
// value), sorts bounded runs, spills them to files in a private temp dir,
// and merges them into one key-ordered file of live keys that the parent
// reads a record at a time.

// childOut names the file the child writes the live keys to (keys mode),
// in a directory the parent created for it alone; spilled runs go beside it.
const childOut = "ETCD_DR_SNAPSHOT_CHILD_OUT"

// A sorted run holds at most runRevisions revisions and runBytes of key
// bytes in memory (copied into one arena, so the run holds no pointers for
// the GC to scan and the sort reads contiguous memory): 80 bytes a revision
// (entry and sort scratch, 20 MiB) plus 32 MiB of keys, whatever the
// keyspace's size. Beyond either, the run
// is spilled to a file and the runs are merged at the end.
var runRevisions, runBytes = 1 << 18, 32 << 20

// entry is one revision of the key bucket, reduced to what the diff needs.
type entry struct {
	key         []byte
	create, mod int64
	tomb        bool
}

// rec is an entry in a run: its key is in the run's arena.
type rec struct {
	off, klen   uint32
	tomb        bool
	create, mod int64
}

// run is the revisions read since the last spill.
type run struct {
	recs  []rec
	arena []byte
	// Sorting scratch, kept between runs: the abbreviations the radix
	// sort moves (24 bytes); after newest, order is the
	// run's newest revision of each key, in key order.
	items, spare, order []sortItem
}

func (r *run) add(key []byte, create, mod int64, tomb bool) {
	if r.recs == nil {
		// Both at their bound at once: append's doubling would copy (and
		// allocate) them again and again; pages never touched stay out of RSS.
		r.recs, r.arena = make([]rec, 0, runRevisions), make([]byte, 0, runBytes)
		r.items = make([]sortItem, 0, runRevisions)
	}
	r.recs = append(r.recs, rec{off: uint32(len(r.arena)), klen: uint32(len(key)),
		tomb: tomb, create: create, mod: mod})
	r.arena = append(r.arena, key...)
}

func (r *run) full() bool { return len(r.recs) >= runRevisions || len(r.arena) >= runBytes }

func (r *run) key(x *rec) []byte { return r.arena[x.off : x.off+x.klen] }

func (r *run) reset() { r.recs, r.arena, r.order = r.recs[:0], r.arena[:0], nil }

// decodeKV reads mvccpb.KeyValue's key (1), create_revision (2) and
// mod_revision (3) and skips every other field, the value (5) included,
// without copying anything. Like proto.Unmarshal, a known field with another
// wire type is skipped as unknown, a repeated field keeps its last value, and
// a malformed record is an error.
func decodeKV(b []byte) (key []byte, create, mod int64, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, 0, 0, protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber { // ConsumeTag takes up to MaxInt32; proto.Unmarshal does not
			return nil, 0, 0, fmt.Errorf("field number %d out of range", num)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			key, n = protowire.ConsumeBytes(b)
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			if num == 2 {
				create = int64(v)
			} else {
				mod = int64(v)
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, 0, 0, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return key, create, mod, nil
}

// liveKeys calls each, in ascending key order, with every key alive at the
// newest revision of the key bucket, and returns that revision. The bucket
// is in revision order; the newest revision of a key decides: a tombstone
// (a revision key ending in 't', etcd's markTombstone) means deleted, as
// etcd's own restore (mvcc kvstore.restore) reads it. Compaction only
// removes older revisions, so it changes no key's newest one. tmp holds
// the spilled runs, removed before it returns. key is valid only during
// the call.
func liveKeys(path, tmp string, each func(key []byte, create, mod int64) error) (int64, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var rev int64
	err = db.View(func(tx *bolt.Tx) error {
		var r run
		var spilled []string
		defer func() {
			for _, p := range spilled {
				os.Remove(p)
			}
		}()
		c := tx.Bucket([]byte("key")).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			// A revision key is 8-byte main, '_', 8-byte sub, then 't' for a tombstone.
			if len(k) != 17 && len(k) != 18 {
				return fmt.Errorf("revision key %x is %d bytes, want 17 or 18", k, len(k))
			}
			main := int64(binary.BigEndian.Uint64(k))
			rev = max(rev, main)
			key, create, mod, err := decodeKV(v)
			if err != nil {
				return fmt.Errorf("revision %d: %w", uint64(main), err)
			}
			if len(key) > maxKeyBytes {
				return fmt.Errorf("revision %d: a key of %d bytes", uint64(main), len(key))
			}
			r.add(key, create, mod, len(k) == 18 && k[17] == 't')
			if r.full() {
				p, err := spill(tmp, len(spilled), &r)
				if err != nil {
					return err
				}
				spilled = append(spilled, p)
				r.reset()
			}
		}
		r.newest()
		return mergeRuns(spilled, &r, each)
	})
	return rev, err
}

// newest sorts the run by key and keeps each key's newest revision
// (tombstones too: they hide older runs' puts of the key).
func (r *run) newest() {
	if len(r.recs) == 0 {
		return
	}
	// Keys share long prefixes ("/registry/configmaps/ns-0"): past the
	// common one, 16 bytes as two integers order most pairs without
	// reading the arena.
	first := r.key(&r.recs[0])
	lcp := len(first)
	for i := range r.recs {
		k := r.key(&r.recs[i])
		n := min(lcp, len(k))
		j := 0
		for j < n && k[j] == first[j] {
			j++
		}
		lcp = j
	}
	// LSD radix sort of the abbreviations (stable, so equal ones stay in
	// revision order), then keys longer than them are ordered within their
	// ties; pdqsort over the whole run cost twice as much (profiled).
	items := r.items[:0]
	for i := range r.recs {
		var b [16]byte
		copy(b[:], r.key(&r.recs[i])[lcp:])
		items = append(items, sortItem{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), uint32(i)})
	}
	r.items = items
	r.spare = slices.Grow(r.spare[:0], len(items))[:len(items)]
	radixSort(items, r.spare)
	key := func(it sortItem) []byte { return r.key(&r.recs[it.i])[lcp:] }
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].a0 == items[lo].a0 && items[hi].a1 == items[lo].a1 {
			hi++
		}
		if hi-lo > 1 {
			slices.SortStableFunc(items[lo:hi], func(a, b sortItem) int { return bytes.Compare(key(a), key(b)) })
		}
		lo = hi
	}
	order := items[:0]
	for i, it := range items {
		if i+1 < len(items) && bytes.Equal(key(items[i+1]), key(it)) {
			continue // a newer revision of the key follows
		}
		order = append(order, it)
	}
	r.order = order
}

// sortItem is a run entry's abbreviated key and its place in the run.
type sortItem struct {
	a0, a1 uint64 // the key's 16 bytes after the run's common prefix, big-endian: most ties end here
	i      uint32
}

// radixSort sorts a by (a0, a1), stably, using tmp (as long as a) as
// scratch; a byte position every item shares costs no pass.
func radixSort(a, tmp []sortItem) {
	if len(a) < 2 {
		return
	}
	digit := func(it sortItem, pass int) byte {
		if pass < 8 {
			return byte(it.a1 >> (8 * pass))
		}
		return byte(it.a0 >> (8 * (pass - 8)))
	}
	var counts [16][256]uint32
	for _, it := range a {
		for b := range 8 {
			counts[b][byte(it.a1>>(8*b))]++
			counts[8+b][byte(it.a0>>(8*b))]++
		}
	}
	src, dst := a, tmp
	for pass := range 16 {
		c := &counts[pass]
		if c[digit(src[0], pass)] == uint32(len(src)) {
			continue
		}
		var off [256]uint32
		var sum uint32
		for d := range 256 {
			off[d] = sum
			sum += c[d]
		}
		for _, it := range src {
			d := digit(it, pass)
			dst[off[d]] = it
			off[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}

// spill sorts a run and writes it to a file of records (see appendRec).
func spill(dir string, n int, r *run) (string, error) {
	r.newest()
	p := filepath.Join(dir, fmt.Sprintf("run-%d", n))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("spill sorted keys: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	var buf []byte
	for _, it := range r.order {
		x := &r.recs[it.i]
		buf = appendRec(buf[:0], r.key(x), x.create, x.mod, x.tomb)
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return p, fmt.Errorf("spill sorted keys: %w", err)
	}
	return p, f.Close()
}

// appendRec encodes one record: key length, key, create and mod revisions
// (varints), and, in spilled runs only, a tombstone byte.
func appendRec(b, key []byte, create, mod int64, tomb bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendVarint(b, create)
	b = binary.AppendVarint(b, mod)
	if tomb {
		return append(b, 1)
	}
	return append(b, 0)
}

// maxKeyBytes bounds a record's key: etcd's request limit is 1.5 MiB by
// default and at most a few MiB when raised.
const maxKeyBytes = 64 << 20

// readRec decodes the next record into r (reusing r.key's buffer); io.EOF
// at a clean end.
func readRec(br *bufio.Reader, r *entry) error {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	if n > maxKeyBytes {
		return fmt.Errorf("a key record of %d bytes", n)
	}
	r.key = slices.Grow(r.key[:0], int(n))[:n]
	if _, err := io.ReadFull(br, r.key); err != nil {
		return noEOF(err)
	}
	if r.create, err = binary.ReadVarint(br); err != nil {
		return noEOF(err)
	}
	if r.mod, err = binary.ReadVarint(br); err != nil {
		return noEOF(err)
	}
	t, err := br.ReadByte()
	r.tomb = t == 1
	return noEOF(err)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// runCursor is the head of one sorted run in the merge.
type runCursor struct {
	idx  int // later runs hold later revisions
	cur  entry
	mem  *run // the in-memory run, or
	br   *bufio.Reader
	file *os.File
}

func (c *runCursor) next() (bool, error) {
	if c.br == nil {
		if len(c.mem.order) == 0 {
			return false, nil
		}
		x := &c.mem.recs[c.mem.order[0].i]
		c.cur = entry{key: c.mem.key(x), create: x.create, mod: x.mod, tomb: x.tomb}
		c.mem.order = c.mem.order[1:]
		return true, nil
	}
	err := readRec(c.br, &c.cur)
	if err == io.EOF {
		return false, nil
	}
	return err == nil, err
}

type runHeap []*runCursor

func (h runHeap) Len() int { return len(h) }
func (h runHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].cur.key, h[j].cur.key); c != 0 {
		return c < 0
	}
	return h[i].idx < h[j].idx
}
func (h runHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)   { *h = append(*h, x.(*runCursor)) }
func (h *runHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeRuns merges the spilled runs and the last, in-memory one, taking
// each key from the newest run that holds it, and hands on the live ones.
func mergeRuns(spilled []string, last *run, each func(key []byte, create, mod int64) error) error {
	if len(spilled) == 0 { // the common case: one run, no file
		for _, it := range last.order {
			if x := &last.recs[it.i]; !x.tomb {
				if err := each(last.key(x), x.create, x.mod); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var h runHeap
	defer func() {
		for _, c := range h {
			if c.file != nil {
				c.file.Close()
			}
		}
	}()
	push := func(c *runCursor) error {
		ok, err := c.next()
		if ok {
			heap.Push(&h, c)
		} else if c.file != nil {
			c.file.Close()
		}
		return err
	}
	for i, p := range spilled {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("read spilled keys: %w", err)
		}
		if err := push(&runCursor{idx: i, br: bufio.NewReaderSize(f, 1<<16), file: f}); err != nil {
			return fmt.Errorf("read spilled keys: %w", err)
		}
	}
	if err := push(&runCursor{idx: len(spilled), mem: last}); err != nil {
		return err
	}
	var key []byte
	var win entry
	for h.Len() > 0 {
		c := heap.Pop(&h).(*runCursor)
		// Equal keys pop oldest run first; the last one popped wins.
		key = append(key[:0], c.cur.key...)
		win.create, win.mod, win.tomb = c.cur.create, c.cur.mod, c.cur.tomb
		if err := push(c); err != nil {
			return fmt.Errorf("read spilled keys: %w", err)
		}
		if h.Len() > 0 && bytes.Equal(h[0].cur.key, key) {
			continue
		}
		if !win.tomb {
			if err := each(key, win.create, win.mod); err != nil {
				return err
			}
		}
	}
	return nil
}

// childKeys writes the live keys, in key order, to out and returns the
// snapshot's revision and how many keys it wrote.
func childKeys(path, out string) (rev, n int64, err error) {
	if out == "" {
		return 0, 0, errors.New("no output file for the keys")
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<16)
	var buf []byte
	rev, err = liveKeys(path, filepath.Dir(out), func(key []byte, create, mod int64) error {
		n++
		buf = appendRec(buf[:0], key, create, mod, false)
		_, err := w.Write(buf)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return rev, n, f.Close()
}

// KeyFile is a snapshot's live keys in key order, in a private temp file
// the child wrote: read a record at a time (Open), as often as a diff needs
// (a live listing that restarts reads it again), never held whole.
type KeyFile struct {
	Revision int64
	Count    int64 // live keys
	dir      string
}

// SnapshotKeyFile reads every live key of a snapshot read-only, in the child
// process like Inspect, into a file in a new private directory under tmp
// ("" for the system's). Close removes it.
func SnapshotKeyFile(path, tmp string) (*KeyFile, error) {
	dir, err := os.MkdirTemp(tmp, "etcd-dr-keys-")
	if err != nil {
		return nil, &Error{path, ErrDamaged, "cannot make a temp dir for its keys: " + err.Error()}
	}
	res, err := inspectChildOut(modeKeys, path, filepath.Join(dir, "keys"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &KeyFile{Revision: res.Keyspace.Revision, Count: res.KeyCount, dir: dir}, nil
}

// Close removes the file.
func (f *KeyFile) Close() error { return os.RemoveAll(f.dir) }

// Open starts reading the keys from the first.
func (f *KeyFile) Open() (*KeyReader, error) {
	fh, err := os.Open(filepath.Join(f.dir, "keys"))
	if err != nil {
		return nil, err
	}
	return &KeyReader{f: fh, br: bufio.NewReaderSize(fh, 1<<16), want: f.Count}, nil
}

// KeyReader reads a KeyFile's keys in order.
type KeyReader struct {
	f       *os.File
	br      *bufio.Reader
	r       entry
	last    string
	n, want int64
}

// Next returns the next key, or io.EOF after the last. The file is checked
// as it is read: keys strictly ascending, as many as the child counted.
func (kr *KeyReader) Next() (KeyRev, error) {
	err := readRec(kr.br, &kr.r)
	switch {
	case err == io.EOF && kr.n != kr.want:
		return KeyRev{}, fmt.Errorf("the snapshot's key file ended after %d of %d keys", kr.n, kr.want)
	case err != nil:
		return KeyRev{}, err
	}
	k := KeyRev{Key: string(kr.r.key), Create: kr.r.create, Mod: kr.r.mod}
	if kr.n > 0 && k.Key <= kr.last {
		return KeyRev{}, fmt.Errorf("the snapshot's key file has %q after %q", k.Key, kr.last)
	}
	kr.n++
	kr.last = k.Key
	return k, nil
}

// Close closes the reader.
func (kr *KeyReader) Close() error { return kr.f.Close() }
