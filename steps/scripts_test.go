package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// dirs makes a manifests dir and a park dir holding the given files.
func dirs(t *testing.T, inManifests, inPark map[string]string) *Context {
	t.Helper()
	c := oneNode(t, "run-1", "alice@bastion")
	root := t.TempDir()
	c.Cluster.Etcd = config.Etcd{ManifestsDir: filepath.Join(root, "manifests"), ParkDir: filepath.Join(root, "parked")}
	os.MkdirAll(c.Cluster.Etcd.ManifestsDir, 0o755)
	for dir, files := range map[string]map[string]string{c.Cluster.Etcd.ManifestsDir: inManifests, c.Cluster.Etcd.ParkDir: inPark} {
		for name, body := range files {
			os.MkdirAll(dir, 0o700)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

func TestParking(t *testing.T) {
	for _, tc := range []struct {
		name          string
		manifests     map[string]string
		parked        map[string]string
		wantErr       string
		wantManifests string // content left in manifests ("" = absent)
		wantParked    string
	}{
		{"a manifest is moved to the park dir", map[string]string{"kube-apiserver.yaml": "A"}, nil, "", "", "A"},
		{"an already parked manifest is success", nil, map[string]string{"kube-apiserver.yaml": "A"}, "", "", "A"},
		{"an identical copy left behind is removed", map[string]string{"kube-apiserver.yaml": "A"}, map[string]string{"kube-apiserver.yaml": "A"}, "", "", "A"},
		{"a different parked file is never overwritten", map[string]string{"kube-apiserver.yaml": "NEW"}, map[string]string{"kube-apiserver.yaml": "OLD"},
			"exists and differs", "NEW", "OLD"},
		{"a manifest that is nowhere is an error", nil, nil, "neither", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dirs(t, tc.manifests, tc.parked)
			_, err := c.Exec1(context.Background(), parkAction(c, "cp-1", "kube-apiserver.yaml"))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("park = %v, want error containing %q", err, tc.wantErr)
			}
			read := func(dir string) string {
				b, _ := os.ReadFile(filepath.Join(dir, "kube-apiserver.yaml"))
				return string(b)
			}
			if got := read(c.Cluster.Etcd.ManifestsDir); got != tc.wantManifests {
				t.Errorf("manifests dir holds %q, want %q", got, tc.wantManifests)
			}
			if got := read(c.Cluster.Etcd.ParkDir); got != tc.wantParked {
				t.Errorf("park dir holds %q, want %q", got, tc.wantParked)
			}
		})
	}
}

// The restore script wraps etcdutl; here a stand-in command that makes the
// data dir (and notes that it ran) shows what the wrapper does around it
// with real directories and a real snapshot file.
type restoreRig struct {
	snap, sum string // the snapshot file and the sha256 verified "in preflight"
	need      int64  // free bytes a retry needs
	ran       string // the stand-in's note: exists once etcdutl "ran"
}

func newRestoreRig(t *testing.T) *restoreRig {
	t.Helper()
	dir := t.TempDir()
	r := &restoreRig{snap: filepath.Join(dir, "snap.db"), ran: filepath.Join(dir, "etcdutl-ran"), need: 1}
	if err := os.WriteFile(r.snap, []byte("snapshot bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("snapshot bytes"))
	r.sum = hex.EncodeToString(sum[:])
	return r
}

func (r *restoreRig) run(c *Context, newDir, runID string) (nodes.Result, error) {
	fake := `touch "$RAN"; mkdir -p "$NEWDIR/member/snap"`
	cmd := shCmd(c.Cluster, restoreScript, newDir, runID, r.snap, r.sum, strconv.FormatInt(r.need, 10), "sh", "-c", fake)
	c.Exec.(*localExec).env = []string{"NEWDIR=" + newDir, "RAN=" + r.ran}
	return c.Exec1(context.Background(), Action{Node: "cp-1", What: "restore", Cmd: cmd})
}

func TestRestoreIntoANewDataDir(t *testing.T) {
	run := func(c *Context, newDir, runID string) error {
		_, err := newRestoreRig(t).run(c, newDir, runID)
		return err
	}
	t.Run("an existing data dir is refused and left untouched", func(t *testing.T) {
		c := oneNode(t, "run-1", "a@b")
		dir := filepath.Join(t.TempDir(), "etcd-old")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600)
		err := run(c, dir, "run-1")
		if err == nil || !strings.Contains(err.Error(), "never overwriting") {
			t.Fatalf("restore into an existing dir = %v, want refusal", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "keep")); string(b) != "x" {
			t.Error("the existing dir was touched")
		}
	})
	t.Run("this run's finished restore is accepted on a re-run", func(t *testing.T) {
		c := oneNode(t, "run-1", "a@b")
		dir := filepath.Join(t.TempDir(), "etcd-new")
		for range 2 {
			if err := run(c, dir, "run-1"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("another run's restore is refused", func(t *testing.T) {
		c := oneNode(t, "run-2", "a@b")
		dir := filepath.Join(t.TempDir(), "etcd-new")
		if err := run(oneNode(t, "run-1", "a@b"), dir, "run-1"); err != nil {
			t.Fatal(err)
		}
		if err := run(c, dir, "run-2"); err == nil {
			t.Fatal("run-2 accepted run-1's data dir")
		}
	})
}

// A retry after an interrupted restore removes this run's partial data
// dir (its marker proves it is this run's) and nothing else, and checks
// the free disk again before etcdutl writes.
func TestARetriedRestoreRemovesOnlyThisRunsPartialAndRechecksTheDisk(t *testing.T) {
	tests := []struct {
		name     string
		need     int64 // free bytes the retry needs
		wantErr  string
		wantCode int
		wantRan  bool
	}{
		{name: "with room, the partial is removed and the restore runs again", need: 1, wantRan: true},
		{name: "without room, the partial is removed and the retry refused before etcdutl", need: 1 << 62,
			wantErr: "not enough free disk for the retry", wantCode: exitNoDiskForRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneNode(t, "run-1", "a@b")
			rig := newRestoreRig(t)
			rig.need = tt.need
			root := t.TempDir()
			dir := filepath.Join(root, "etcd-new")
			os.MkdirAll(filepath.Join(dir, "member", "half-written"), 0o700)
			os.WriteFile(dir+".etcd-dr", []byte("started run-1\n"), 0o600)
			// Not this run's: a dir an older version moved aside, and an
			// operator's file beside it. Both must stay.
			os.MkdirAll(dir+".partial-1700000000", 0o700)
			os.WriteFile(filepath.Join(root, "operator-notes"), []byte("x"), 0o600)
			res, err := rig.run(c, dir, "run-1")
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(res.Stderr, tt.wantErr) || res.ExitCode != tt.wantCode) {
				t.Fatalf("retry = %v (code %d, stderr %q), want %q", err, res.ExitCode, res.Stderr, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(dir, "member", "half-written")); err == nil {
				t.Error("this run's partial restore was left in place")
			}
			for _, keep := range []string{dir + ".partial-1700000000", filepath.Join(root, "operator-notes")} {
				if _, err := os.Stat(keep); err != nil {
					t.Errorf("%s, not this run's, is gone: %v", keep, err)
				}
			}
			if aside, _ := filepath.Glob(dir + ".partial-*"); len(aside) != 1 {
				t.Errorf("partial dirs %v: a retry must not add one", aside)
			}
			if _, err := os.Stat(rig.ran); (err == nil) != tt.wantRan {
				t.Errorf("etcdutl ran: %v, want %v", err == nil, tt.wantRan)
			}
		})
	}
}

// The sha256 of the snapshot is checked inside the restore command, right
// before etcdutl reads it: a file changed after every earlier check is
// refused with exit 5, naming the file and both hashes, and nothing is
// written.
func TestTheRestoreCommandRefusesASnapshotThatChangedSincePreflight(t *testing.T) {
	c := oneNode(t, "run-1", "a@b")
	rig := newRestoreRig(t)
	if err := os.WriteFile(rig.snap, []byte("rewritten by a backup job"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "etcd-new")
	res, err := rig.run(c, dir, "run-1")
	if err == nil || res.ExitCode != exitSnapshotChanged {
		t.Fatalf("restore of a changed snapshot = %v (code %d), want exit %d", err, res.ExitCode, exitSnapshotChanged)
	}
	now := sha256.Sum256([]byte("rewritten by a backup job"))
	for _, w := range []string{rig.snap, rig.sum, hex.EncodeToString(now[:])} {
		if !strings.Contains(res.Stderr, w) {
			t.Errorf("stderr %q does not name %s", res.Stderr, w)
		}
	}
	ce := c.restoreRefusal(Member{Node: "cp-1"}, res)
	var sc *SnapshotChangedError
	if !errors.As(ce, &sc) || sc.Got != hex.EncodeToString(now[:]) || sc.Node != "cp-1" {
		t.Errorf("refusal %v, want a SnapshotChangedError with the new hash", ce)
	}
	for _, p := range []string{rig.ran, dir, dir + ".etcd-dr"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists: the restore went ahead", p)
		}
	}
}

func TestWritingAManifestKeepsTheOriginalAndNeverOverwritesTheBackup(t *testing.T) {
	c := dirs(t, nil, map[string]string{"etcd.yaml": "ORIGINAL"})
	file := filepath.Join(c.Cluster.Etcd.ParkDir, "etcd.yaml")
	for _, body := range []string{"EDITED-1", "EDITED-2"} {
		if _, err := c.Exec1(context.Background(), writeAction(c, "cp-1", file, []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(file)
	bak, _ := os.ReadFile(file + ".etcd-dr-backup-run-1")
	if string(got) != "EDITED-2" || string(bak) != "ORIGINAL" {
		t.Errorf("file %q backup %q, want EDITED-2 and ORIGINAL", got, bak)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the original's 0600", fi.Mode().Perm())
	}
}

// TestAWrittenManifestIsOnDiskBeforeAndAfterItsRename runs the write script
// with a wrapper around the real sync that records what it was asked to
// sync and what the manifest held at that moment.
func TestAWrittenManifestIsOnDiskBeforeAndAfterItsRename(t *testing.T) {
	realSync, err := exec.LookPath("sync")
	if err != nil {
		t.Fatal(err)
	}
	c := dirs(t, nil, map[string]string{"etcd.yaml": "ORIGINAL"})
	file := filepath.Join(c.Cluster.Etcd.ParkDir, "etcd.yaml")
	bin, log := t.TempDir(), filepath.Join(t.TempDir(), "sync.log")
	wrapper := `#!/bin/sh
for a in "$@"; do [ "$a" = -- ] || printf '%s|%s\n' "$a" "$(cat "$WATCHED")" >>"$SYNC_LOG"; done
exec ` + realSync + ` "$@"
`
	if err := os.WriteFile(filepath.Join(bin, "sync"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	c.Exec = &localExec{pathPrefix: bin, env: []string{"SYNC_LOG=" + log, "WATCHED=" + file}}
	if _, err := c.Exec1(context.Background(), writeAction(c, "cp-1", file, []byte("EDITED"))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	got := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{
		file + ".etcd-dr-tmp|ORIGINAL",          // the new content, before the rename can expose it
		file + ".etcd-dr-backup-run-1|ORIGINAL", // the backup, before the original is replaced
		filepath.Dir(file) + "|EDITED",          // the rename itself
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("synced (path|manifest at that moment):\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
