package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// snapshotLab brings up a seeded lab in this process on block 80 (blocks
// 80–89 are this file's) and takes it down when the test ends.
func snapshotLab(t *testing.T) (*lab.Lab, lab.Seed) {
	t.Helper()
	labtest.Block(t, 80)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: t.TempDir(), Block: 80})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	seed, err := lab.ReadSeed(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	return l, seed
}

// cli runs etcd-dr in-process and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// registryKey is the etcd key the apiserver stores an API path under:
// /api/v1/namespaces/ns/configmaps/x → /registry/configmaps/ns/x.
func registryKey(t *testing.T, apiPath string) string {
	t.Helper()
	p := strings.TrimPrefix(apiPath, "/api/v1/")
	if rest, ok := strings.CutPrefix(apiPath, "/apis/"); ok {
		p = strings.SplitN(rest, "/", 3)[2] // drop group and version
	}
	parts := strings.Split(p, "/")
	switch len(parts) {
	case 2: // namespaces/<name>
		return "/registry/" + parts[0] + "/" + parts[1]
	case 4: // namespaces/<ns>/<resource>/<name>
		return "/registry/" + parts[2] + "/" + parts[1] + "/" + parts[3]
	}
	t.Fatalf("cannot map API path %s to an etcd key", apiPath)
	return ""
}

// systemChurn says whether a key is the control plane's own writing, which
// goes on after the snapshot whatever the test does: leases and events in
// the system namespaces, the apiservers' masterleases (TTL keys), and what
// controllers derive from objects (a deployment's replicaset and pods, a
// namespace's root CA and service accounts). Which of them land after the
// snapshot depends on timing.
func systemChurn(key string) bool {
	res, ns, _ := snapshot.ParseRegistryKey(key)
	switch {
	case ns == "kube-system" || ns == "kube-node-lease":
		return true
	case slices.Contains([]string{"masterleases", "replicasets", "pods", "events", "serviceaccounts", "endpointslices", "controllerrevisions"}, res):
		return true
	}
	return res == "configmaps" && strings.HasSuffix(key, "/kube-root-ca.crt")
}

// One lab serves both: bringing one up is the slow part.
func TestSnapshotCommandsOnTheLab(t *testing.T) {
	l, seed := snapshotLab(t)
	t.Run("diff lists exactly the post-snapshot objects as dropped", func(t *testing.T) {
		diffListsThePostSnapshotObjects(t, l, seed)
	})
	t.Run("the step-2 gate facts sum up what the restore drops", func(t *testing.T) {
		gateFactsSumUpTheDiff(t, l, seed)
	})
	t.Run("save writes a verified snapshot and sidecar with the member's own TLS files and never overwrites", func(t *testing.T) {
		saveUsesTheMembersTLSAndNeverOverwrites(t, l)
	})
	t.Run("every damaged file is refused with its reason by status, inspect and diff", func(t *testing.T) {
		damagedFilesAreRefused(t, l, seed)
	})
}

func diffListsThePostSnapshotObjects(t *testing.T, l *lab.Lab, seed lab.Seed) {
	code, out, errs := cli(t, "snapshot", "diff", seed.Snapshot, "-f", l.ClusterFile(), "-o", "json")
	if code != exitOK {
		t.Fatalf("snapshot diff: exit %d: %s", code, errs)
	}
	var d snapshot.Diff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("snapshot diff -o json: %v\n%s", err, out)
	}
	want := []string{seed.RawPost}
	for _, p := range seed.PostSnapshot {
		want = append(want, registryKey(t, p))
	}
	var got []string
	for _, k := range snapshot.Keys(d.Dropped) {
		if !systemChurn(k) {
			got = append(got, k)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("dropped (control-plane churn left out) = %q\nwant the post-snapshot objects %q", got, want)
	}
	seedKeys := []string{seed.RawSeed}
	for _, p := range seed.Seed {
		seedKeys = append(seedKeys, registryKey(t, p))
	}
	// Rolled back is allowed for seed objects: a controller may update the
	// seed deployment's status after the snapshot, and the restore does
	// roll that back.
	for _, gs := range [][]snapshot.Group{d.Dropped, d.BroughtBack} {
		for _, k := range snapshot.Keys(gs) {
			if slices.Contains(seedKeys, k) {
				t.Errorf("seed object %s, in the snapshot and alive, is listed as dropped or brought back", k)
			}
		}
	}
	if d.SnapshotRevision <= 0 || d.LiveRevision <= d.SnapshotRevision || d.Gap != d.LiveRevision-d.SnapshotRevision {
		t.Errorf("revisions: snapshot %d, live %d, gap %d", d.SnapshotRevision, d.LiveRevision, d.Gap)
	}

	code, out, errs = cli(t, "snapshot", "diff", seed.Snapshot, "-f", l.ClusterFile())
	if code != exitOK {
		t.Fatalf("snapshot diff (text): exit %d: %s", code, errs)
	}
	for _, s := range []string{"restoring drops", "1 namespaces", "DROPPED", "post-snapshot-1", "post-snapshot-config", seed.RawPost} {
		if !strings.Contains(out, s) {
			t.Errorf("text output lacks %q:\n%s", s, out)
		}
	}
}

// damage makes a damaged copy of the lab's snapshot in dir.
type damage func(t *testing.T, good []byte, dir string) string

func put(t *testing.T, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, "snap.db")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func withTrailer(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(slices.Clone(body), sum[:]...)
}

func flipped(b []byte, at int) []byte {
	c := slices.Clone(b)
	c[at] ^= 0xff
	return c
}

// tree lists every path under dir, to prove nothing was created.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		out = append(out, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

func damagedFilesAreRefused(t *testing.T, l *lab.Lab, seed lab.Seed) {
	good, err := os.ReadFile(seed.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	body := good[:len(good)-sha256.Size]
	tests := []struct {
		name   string
		make   damage
		reason string
	}{
		{"an empty file", func(t *testing.T, _ []byte, dir string) string { return put(t, dir, nil) }, "empty file"},
		{"a truncated file", func(t *testing.T, g []byte, dir string) string { return put(t, dir, g[:len(g)/2]) }, "truncated"},
		{"random bytes", func(t *testing.T, g []byte, dir string) string {
			b := make([]byte, len(g))
			for i := range b {
				b[i] = byte(i*7919 + i>>8)
			}
			return put(t, dir, b)
		}, "not an etcd snapshot"},
		{"a flipped byte", func(t *testing.T, g []byte, dir string) string { return put(t, dir, flipped(g, len(g)/2)) },
			"sha256 trailer does not match"},
		{"no trailer", func(t *testing.T, _ []byte, dir string) string { return put(t, dir, body) }, "no sha256 trailer"},
		{"a wrong trailer", func(t *testing.T, _ []byte, dir string) string {
			return put(t, dir, append(slices.Clone(body), make([]byte, sha256.Size)...))
		}, "sha256 trailer does not match"},
		{"a body changed after save with a recomputed trailer", func(t *testing.T, g []byte, dir string) string {
			p := put(t, dir, withTrailer(flipped(body, len(body)-100)))
			sum := sha256.Sum256(g)
			if err := snapshot.WriteMeta(p, snapshot.Meta{SHA256: hex.EncodeToString(sum[:])}); err != nil {
				t.Fatal(err)
			}
			return p
		}, "does not match the hash recorded when it was saved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.make(t, good, dir)
			before, labBefore := tree(t, dir), tree(t, l.Dir())
			for _, cmd := range [][]string{{"status", path}, {"inspect", path}, {"diff", path, "-f", l.ClusterFile()}} {
				code, out, errs := cli(t, append([]string{"snapshot"}, cmd...)...)
				if code != exitFailed || !strings.Contains(errs, tt.reason) || strings.Count(errs, "\n") != 1 {
					t.Errorf("snapshot %s: exit %d, stderr %q; want exit 1 and one line saying %q", cmd[0], code, errs, tt.reason)
				}
				// A crash of bbolt's child is a reason in the line; a stack
				// trace would be ours.
				if out != "" || strings.Contains(errs, "goroutine ") {
					t.Errorf("snapshot %s printed %q / %q", cmd[0], out, errs)
				}
			}
			if after := tree(t, dir); after != before {
				t.Errorf("a command wrote next to the snapshot:\nbefore %s\nafter  %s", before, after)
			}
			if after := tree(t, l.Dir()); after != labBefore {
				t.Errorf("a command wrote into the lab dir:\nbefore %s\nafter  %s", labBefore, after)
			}
		})
	}
}

func saveUsesTheMembersTLSAndNeverOverwrites(t *testing.T, l *lab.Lab) {
	out := filepath.Join(t.TempDir(), "saved.db")
	code, stdout, errs := cli(t, "snapshot", "save", "-f", l.ClusterFile(), "--out", out)
	if code != exitOK {
		t.Fatalf("snapshot save: exit %d: %s", code, errs)
	}
	if !strings.Contains(stdout, "matches the hash recorded when it was saved") {
		t.Errorf("save did not show the sidecar check:\n%s", stdout)
	}
	meta, err := snapshot.ReadMeta(out)
	if err != nil {
		t.Fatal(err)
	}
	info, err := snapshot.Verify(out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.SHA256 != info.SHA256 || meta.Revision != info.Revision || meta.SourceMember == "" || len(meta.Members) != 3 || meta.ClusterID == "" {
		t.Errorf("sidecar %+v does not describe the file %+v", meta, info)
	}
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = cli(t, "snapshot", "save", "-f", l.ClusterFile(), "--out", out)
	if code != exitFailed || !strings.Contains(errs, "already exists") {
		t.Errorf("second save to %s: exit %d, %q; want exit 1 saying it exists", out, code, errs)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(after, before) {
		t.Errorf("the second save changed %s", out)
	}
}

func gateFactsSumUpTheDiff(t *testing.T, l *lab.Lab, seed lab.Seed) {
	cl, _, err := config.Load(l.ClusterFile())
	if err != nil {
		t.Fatal(err)
	}
	cl.Snapshot.Path = seed.Snapshot
	r, err := nodes.NewRunner(cl, nodes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Through the command's path, which finds or brings etcdctl as preflight
	// does (stock lab nodes have none); the gate's own facts after a real
	// preflight are checked at 100 000 keys in keys_test.go.
	d, err := steps.SnapshotDiff(ctx, cl, r)
	if err != nil {
		t.Fatal(err)
	}
	if fact := d.Sentence(); !strings.HasPrefix(fact, "restoring drops ") ||
		!strings.Contains(fact, "1 namespaces") || !strings.Contains(fact, "created after the snapshot") {
		t.Errorf("gate fact = %q; want the drop summary (1 namespace among them)", fact)
	}
}
