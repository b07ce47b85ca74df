package steps

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The restored dir takes the old dir's owner, group and mode, down to its
// files, and a second run changes nothing. Owner and group are those of a
// uid other than the one etcdutl ran as where the test may chown (root);
// otherwise only the mode is proven.
func TestTheRestoredDataDirGetsTheOldDirsOwnerAndMode(t *testing.T) {
	c := oneNode(t, "run-1", "alice@bastion")
	root := t.TempDir()
	old, restored := filepath.Join(root, "etcd"), filepath.Join(root, "etcd-restored")
	for _, d := range []string{old, filepath.Join(restored, "member", "snap")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(restored, "member", "snap", "db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o750); err != nil {
		t.Fatal(err)
	}
	wantUID := os.Getuid()
	if wantUID == 0 {
		wantUID = 998 // an etcd user
		if err := os.Chown(old, wantUID, wantUID); err != nil {
			t.Fatal(err)
		}
	}
	m := Member{Node: "cp-1", DataDir: old}
	c.Values.DataDir = restored
	for run := 1; run <= 2; run++ {
		if _, err := c.Exec1(context.Background(), c.ownAction(m)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		for _, p := range []string{restored, filepath.Join(restored, "member", "snap", "db")} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != wantUID || int(st.Gid) != wantUID {
				t.Errorf("run %d: %s owned by %d:%d, want %d:%d", run, p, st.Uid, st.Gid, wantUID, wantUID)
			}
		}
		if fi, _ := os.Stat(restored); fi.Mode().Perm() != 0o750 {
			t.Errorf("run %d: %s mode %o, want the old dir's 750", run, restored, fi.Mode().Perm())
		}
	}
}
