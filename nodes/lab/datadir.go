package lab

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// recordDataDir notes the digest of an etcd pod's data dir right after the
// process exited: from then on nothing may change it (the restore writes a
// NEW dir; the old one is the rollback), which Verify checks.
func (k *kubelet) recordDataDir(p *pod) {
	dir := p.dataDir
	if dir == "" {
		return
	}
	digest, err := dirDigest(filepath.Join(k.n.root(), dir))
	e := Event{Node: k.n.spec.Name, Kind: EvEtcdData, Pod: p.name, DataDir: dir, Digest: digest}
	if err != nil {
		e.Detail = err.Error()
	}
	k.tl.add(e)
}

// dirDigest hashes every regular file's relative name, size and content.
func dirDigest(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(h, f)
		fmt.Fprintf(h, "\x00%s\x00%d\x00", rel, n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", root, err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}
