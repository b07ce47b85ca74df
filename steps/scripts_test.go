package steps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
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
// data dir shows what the wrapper does around it with real directories.
func TestRestoreIntoANewDataDir(t *testing.T) {
	fake := `mkdir -p "$NEWDIR/member/snap"`
	run := func(c *Context, newDir, runID string) error {
		cmd := shCmd(c.Cluster, restoreScript, newDir, runID, "sh", "-c", fake)
		c.Exec.(*localExec).env = []string{"NEWDIR=" + newDir}
		_, err := c.Exec1(context.Background(), Action{Node: "cp-1", What: "restore", Cmd: cmd})
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
	t.Run("this run's interrupted restore is moved aside, not deleted", func(t *testing.T) {
		c := oneNode(t, "run-1", "a@b")
		dir := filepath.Join(t.TempDir(), "etcd-new")
		os.MkdirAll(dir, 0o700)
		os.WriteFile(dir+".etcd-dr", []byte("started run-1\n"), 0o600)
		if err := run(c, dir, "run-1"); err != nil {
			t.Fatal(err)
		}
		aside, _ := filepath.Glob(dir + ".partial-*")
		if len(aside) != 1 {
			t.Errorf("partial restore not kept aside: %v", aside)
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
