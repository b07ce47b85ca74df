package snapshot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/etcd-dr/etcd-dr/config/safefile"
)

// Meta is the sidecar FILE.meta.json written next to a snapshot when it is
// saved. Its sha256 catches what the trailer cannot: a file replaced or
// edited afterwards with a recomputed trailer.
type Meta struct {
	SHA256       string    `json:"sha256"` // of the whole snapshot file
	Revision     int64     `json:"revision"`
	Keys         int       `json:"keys"`
	Members      []string  `json:"members"`   // member names at save time
	ClusterID    string    `json:"clusterID"` // hex, as etcdctl prints it
	Time         time.Time `json:"time"`
	SourceMember string    `json:"sourceMember"` // the member the snapshot was taken from
}

// MaxMetaSize bounds a sidecar: a few hundred bytes plus the member list;
// a megabyte is a thousand members' worth. More is not a sidecar (a link to
// /dev/zero, a log written there by mistake) and is not read into memory.
const MaxMetaSize = 1 << 20

// MetaPath is where the sidecar of a snapshot lives.
func MetaPath(snapshot string) string { return snapshot + ".meta.json" }

// ReadMeta reads the sidecar of a snapshot. A missing sidecar is an error
// satisfying errors.Is(err, os.ErrNotExist).
func ReadMeta(snapshot string) (Meta, error) {
	b, err := safefile.ReadFile(MetaPath(snapshot), MaxMetaSize)
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("parse %s: %w", MetaPath(snapshot), err)
	}
	if len(m.SHA256) != 64 {
		return Meta{}, fmt.Errorf("%s: its sha256 field has %d characters, not a sha256 digest's 64", MetaPath(snapshot), len(m.SHA256))
	}
	return m, nil
}

// WriteMeta writes the sidecar of a snapshot: fully written and synced
// before it appears, and never over an existing sidecar.
func WriteMeta(snapshot string, m Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sidecar: %w", err)
	}
	return writeNew(MetaPath(snapshot), func(f *os.File) error {
		_, err := f.Write(append(b, '\n'))
		return err
	})
}

// writeNew creates path with the content fill writes, atomically and never
// replacing an existing file: it writes a temp file in the same directory,
// syncs it, hard-links it to path (link fails if path exists, where rename
// would silently replace it), and syncs the directory.
func writeNew(path string, fill func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists: refusing to overwrite it; choose a new name or move it away", path)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.part")
	if err != nil {
		return fmt.Errorf("create temp file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // the link keeps the data; the temp name goes
	if err := fill(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if os.IsExist(err) {
			return fmt.Errorf("%s already exists: refusing to overwrite it; choose a new name or move it away", path)
		}
		return fmt.Errorf("publish %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
