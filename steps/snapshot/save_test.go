package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestSaveWritesAVerifiedSnapshotAndSidecar(t *testing.T) {
	m := startEtcd(t)
	putKubernetesKeys(t, m, 50)
	out := filepath.Join(t.TempDir(), "snap.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := Save(ctx, clientv3.Config{}, m.endpoint, out)
	if err != nil {
		t.Fatal(err)
	}
	if !info.TrailerOK || !info.SidecarOK || info.TotalKeys != 52 || info.Revision != 53 {
		t.Errorf("info = %+v", info)
	}
	meta, err := ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.SourceMember != "cp-1" || len(meta.Members) != 1 || meta.ClusterID == "" || meta.Keys != 52 || meta.Revision != 53 || meta.SHA256 != info.SHA256 {
		t.Errorf("sidecar = %+v", meta)
	}
	again, err := Verify(out)
	if err != nil || !again.SidecarOK || again.SHA256 != info.SHA256 {
		t.Fatalf("Verify after Save = %+v, %v", again, err)
	}
	st, err := os.Stat(out)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode = %v, %v; want 0600 (it holds every secret of the cluster)", st.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the snapshot and its sidecar only (no temp files)", len(entries))
	}
}

func TestSaveNeverOverwrites(t *testing.T) {
	m := startEtcd(t)
	tests := []struct {
		name     string
		existing string // relative to out
	}{
		{"an existing snapshot", ""},
		{"an existing sidecar", ".meta.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "snap.db")
			if err := os.WriteFile(out+tt.existing, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := Save(ctx, clientv3.Config{}, m.endpoint, out)
			if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("Save() error = %v", err)
			}
			if b := readFile(t, out+tt.existing); string(b) != "precious" {
				t.Errorf("existing file changed")
			}
		})
	}
}

func TestSaveFromAnUnreachableMemberLeavesNoFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "snap.db")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := Save(ctx, clientv3.Config{DialTimeout: time.Second}, endpointOf(freeURL(t)), out)
	if err == nil {
		t.Fatal("Save from a closed port succeeded")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Errorf("left %d files behind", len(entries))
	}
}

func TestWriteMetaRefusesToReplaceASidecar(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "snap.db")
	m := Meta{SHA256: strings.Repeat("ab", 32), Revision: 7}
	if err := WriteMeta(snap, m); err != nil {
		t.Fatal(err)
	}
	if err := WriteMeta(snap, Meta{SHA256: strings.Repeat("cd", 32)}); err == nil {
		t.Fatal("second WriteMeta succeeded")
	}
	got, err := ReadMeta(snap)
	if err != nil || got.SHA256 != m.SHA256 || got.Revision != 7 {
		t.Errorf("ReadMeta = %+v, %v", got, err)
	}
	if _, err := ReadMeta(filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing sidecar error = %v, want ErrNotExist", err)
	}
}
