package snapshot

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

// hashRange reads ahead in chunks on another goroutine; every chunk
// boundary, and more chunks than buffers, must hash exactly like one pass.
func TestHashRangeHashesExactlyTheFirstNBytes(t *testing.T) {
	data := make([]byte, (hashChunks+2)*hashChunk+7)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		n    int
	}{
		{"nothing hashes as the empty input", 0},
		{"one byte is one short chunk", 1},
		{"one byte short of a chunk", hashChunk - 1},
		{"exactly one chunk", hashChunk},
		{"one byte past a chunk", hashChunk + 1},
		{"more chunks than buffers reuse the buffers", len(data) - 3},
		{"the whole file", len(data)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h := sha256.New()
			if err := hashRange(h, f, int64(tc.n)); err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256(data[:tc.n])
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("sha256 of the first %d bytes: got %x, want %x", tc.n, got, want)
			}
		})
	}
	t.Run("a file shorter than asked is a read error, not a short hash", func(t *testing.T) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := hashRange(sha256.New(), f, int64(len(data)+1)); err == nil {
			t.Error("hashRange past the end of the file returned no error")
		}
	})
}
