package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
)

// The restore step with snapshot.on: cp-2, run with real sh on this
// machine: cp-2's file was rewritten while the step's gate was open (the
// copies on cp-1 and cp-3 are still the verified bytes). Every member's
// file is re-read first, and the step stops before any member's etcd is
// stopped or restored: cp-1 and cp-3 must not restore the old data while
// cp-2 holds other data under the same cluster ID. (The lab drill of this
// case is in cmd/etcd-dr's snapshot-on-a-node test.)
func TestARestoreStepWhoseSnapshotChangedOnOneMemberTouchesNoMember(t *testing.T) {
	tests := []struct {
		name    string
		rewrite string // which file changed: "on" (cp-2's own) or "copy" (cp-1's and cp-3's)
		want    []string
	}{
		{name: "the snapshot.on node's file rewritten", rewrite: "on", want: []string{"cp-2"}},
		{name: "the copies on the other members rewritten", rewrite: "copy", want: []string{"cp-1", "cp-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			good := []byte("the verified snapshot")
			sum := sha256.Sum256(good)
			on, cp := filepath.Join(dir, "backups", "snap.db"), filepath.Join(dir, "etcd-dr-snapshot-run-1.db")
			for _, f := range []string{on, cp} {
				must(t, os.MkdirAll(filepath.Dir(f), 0o755))
				must(t, os.WriteFile(f, good, 0o600))
			}
			rewritten := []byte("rewritten by a backup job")
			must(t, os.WriteFile(map[string]string{"on": on, "copy": cp}[tt.rewrite], rewritten, 0o600))

			c := oneNode(t, "run-1", "a@b")
			c.Cluster.Nodes = nil
			for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
				c.Cluster.Nodes = append(c.Cluster.Nodes, config.Node{Name: n, Roles: []string{config.RoleEtcd}})
				c.Values.Members = append(c.Values.Members, Member{Node: n, Name: n, DataDir: "/var/lib/etcd"})
			}
			c.Cluster.Snapshot = config.Snapshot{Path: on, On: "cp-2"}
			c.Values.SnapshotSHA256, c.Values.SnapshotMemberCopy = hex.EncodeToString(sum[:]), cp
			c.Values.DataDir = filepath.Join(dir, "etcd-restored")

			err := RestoreEtcdStep().Run(context.Background(), c)
			now := sha256.Sum256(rewritten)
			for _, node := range tt.want {
				var sc *SnapshotChangedError
				if !errors.As(err, &sc) || !strings.Contains(err.Error(), "on "+node+", the snapshot ") ||
					!strings.Contains(err.Error(), hex.EncodeToString(now[:])) || !strings.Contains(err.Error(), sc.Want) {
					t.Errorf("step = %v, want a SnapshotChangedError on %s naming both hashes", err, node)
				}
			}
			for _, node := range []string{"cp-1", "cp-2", "cp-3"} {
				for _, cmd := range c.Exec.(*localExec).commands(node) {
					if !strings.HasPrefix(cmd, "sha256sum -- ") {
						t.Errorf("%s ran %q after a snapshot changed", node, clip(cmd))
					}
				}
			}
			if _, err := os.Stat(c.Values.DataDir); err == nil {
				t.Error("a data dir was restored")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
