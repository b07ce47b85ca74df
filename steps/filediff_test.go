package steps

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// diffSecrets are values a real apiserver manifest can hold next to the
// line step 3 rewrites: a static token, an OIDC client secret, and an
// encryption key pasted into an annotation as EncryptionConfiguration YAML.
var diffSecrets = []string{"s3cr3t-bootstrap-token-9f8e", "oidc-hush-4711", "c2VjcmV0LWtleS1mb3ItYWVzY2JjLTMyYnl0ZXM="}

func secretApiserverManifest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(manifestsDir, "moved", "cp-1", "kube-apiserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  annotations:\n", "  annotations:\n"+
		"    etcd-dr.test/encryption: |\n      keys:\n      - name: key1\n        secret: "+diffSecrets[2]+"\n", 1)
	s = strings.Replace(s, "    - --etcd-servers=", "    - --token="+diffSecrets[0]+"\n    - --oidc-client-secret="+diffSecrets[1]+"\n    - --etcd-servers=", 1)
	return s
}

// The gate of a step that edits a file shows the file's own diff, read from
// the node at the gate, and no secret of that file reaches the headless
// output or the journal (the gate is journaled as offered).
func TestAGateShowsTheManifestEditAsADiffWithoutItsSecrets(t *testing.T) {
	r := newRig(t)
	file := filepath.Join(r.dir, "kube-apiserver.yaml")
	if err := os.WriteFile(file, []byte(secretApiserverManifest(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	const want = "https://10.0.1.21:12379"
	repoint := Step{ID: "repoint", Title: "Point the apiserver at the restored members", Why: "a diff at the gate",
		Plan: func(c *Context) ([]Action, error) {
			w := writeAction(c, "cp-1", file, nil)
			w.Changes.Edit = func(old []byte) ([]byte, error) {
				return manifest.Edit(old, manifest.SetFlag("etcd-servers", want))
			}
			return []Action{w}, nil
		},
		Run: func(ctx context.Context, c *Context) error { return errors.New("stop after the gate") }}
	e := r.engine(t, func(o *Options) { o.Steps = []Step{repoint} })
	var out bytes.Buffer
	done := make(chan struct{})
	go func() { defer close(done); Headless(e, r.cluster.Name, "ci@runner", &out) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // two local commands; generous for a loaded CI machine
	defer cancel()
	_, err := e.Run(ctx)
	<-done
	if !errors.Is(err, ErrAborted) {
		t.Fatalf("Run = %v, want the headless back-out at the failed step", err)
	}
	journalBytes, err := os.ReadFile(filepath.Join(r.state, r.cluster.Name, "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for exit, text := range map[string]string{"headless output": out.String(), "journal": string(journalBytes)} {
		for _, s := range diffSecrets {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q", exit, s)
			}
		}
	}
	for _, line := range []string{
		"-    - --etcd-servers=https://10.0.0.11:12379,https://10.0.0.12:12379,https://10.0.0.13:12379",
		"+    - --etcd-servers=" + want,
		"--- " + file, "+++ " + file, "@@ -",
		"--oidc-client-secret=<redacted>", // the context line is kept, its value is not
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("headless output lacks the diff line %q:\n%s", line, out.String())
		}
	}
	// Read once, at the step's own gate: the failure gate shows the same
	// diff again and touches no node after the failure.
	reads := 0
	for _, cmd := range r.exec.commands("cp-1") {
		if strings.Contains(cmd, "exec cat --") {
			reads++
		}
	}
	if reads != 1 {
		t.Errorf("the file was read %d times, want once (at the step's own gate)", reads)
	}
	if n := strings.Count(out.String(), "+    - --etcd-servers="+want); n != 2 {
		t.Errorf("the diff was shown %d times, want at the gate and again at the failure gate", n)
	}
	for _, rec := range r.records(t) {
		if rec.Kind == "gate-open" && !bytes.Contains(rec.Offer, []byte(`"Diffs":[{"Node":"cp-1"`)) {
			t.Errorf("the journaled gate has no typed diff: %s", rec.Offer)
		}
	}
}

// Each helper that shapes a diff, on the cases that matter to an operator.
func TestFileDiffs(t *testing.T) {
	for _, tc := range []struct {
		name                string
		before, after       string
		placeholder         bool
		want                []string
		notWant             []string
		wantAdded, wantRems int
	}{
		{name: "an edit shows one hunk with its line numbers and context",
			before: "a\nb\n--data-dir=/var/lib/etcd\nc\n", after: "a\nb\n--data-dir=/var/lib/etcd-restored\nc\n",
			want:      []string{"--- f\n+++ f\n@@ -1,4 +1,4 @@\n a\n b\n---data-dir=/var/lib/etcd\n+--data-dir=/var/lib/etcd-restored\n c\n"},
			wantAdded: 1, wantRems: 1},
		{name: "a sketch with placeholders has no invented line numbers",
			before: "path: <OLD>", after: "path: <NEW>", placeholder: true,
			want: []string{"-path: <OLD>\n+path: <NEW>\n"}, notWant: []string{"@@", "---", "+++"},
			wantAdded: 1, wantRems: 1},
		{name: "a changed secret shows as redacted on both sides, never its value",
			before: "password: old-pw-1\nx: 1\n", after: "password: new-pw-2\nx: 2\n",
			want: []string{"+x: 2"}, notWant: []string{"old-pw-1", "new-pw-2"},
			wantAdded: 1, wantRems: 1},
		{name: "an encryption key and a token in the context lines are redacted",
			before: "keys:\n- name: key1\n  secret: " + diffSecrets[2] + "\n- --token=" + diffSecrets[0] + "\nx: 1\n",
			after:  "keys:\n- name: key1\n  secret: " + diffSecrets[2] + "\n- --token=" + diffSecrets[0] + "\nx: 2\n",
			want:   []string{"   secret: <redacted>", " - --token=<redacted>", "+x: 2"}, notWant: diffSecrets,
			wantAdded: 1, wantRems: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fileDiff("cp-1", "f", []byte(tc.before), []byte(tc.after), tc.placeholder)
			for _, w := range tc.want {
				if !strings.Contains(d.Unified, w) {
					t.Errorf("diff lacks %q:\n%s", w, d.Unified)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(d.Unified, w) {
					t.Errorf("diff has %q:\n%s", w, d.Unified)
				}
			}
			if d.Added != tc.wantAdded || d.Removed != tc.wantRems {
				t.Errorf("counted +%d -%d, want +%d -%d", d.Added, d.Removed, tc.wantAdded, tc.wantRems)
			}
		})
	}
}

// A file the gate cannot read is shown as the sketch with the reason, not
// as an empty diff, and the gate is not held back.
func TestAGateDiffOfAnUnreadableFileSaysWhyAndShowsTheSketch(t *testing.T) {
	c := dirs(t, nil, nil)
	missing := filepath.Join(c.Cluster.Etcd.ParkDir, "etcd.yaml")
	ch := &FileChange{Path: missing, ReadFrom: []string{missing}, Sketch: [2]string{"path: /var/lib/etcd", "path: /var/lib/etcd-new"},
		Edit: func(old []byte) ([]byte, error) { return old, nil }}
	ds := c.diffsOf(context.Background(), []Action{{Node: "cp-1", Changes: ch}}, true)
	if len(ds) != 1 {
		t.Fatalf("got %d diffs, want 1", len(ds))
	}
	d := ds[0]
	if !d.Placeholder || !strings.Contains(d.Unread, "none of") || !strings.Contains(d.Unified, "+path: /var/lib/etcd-new") {
		t.Errorf("diff = %+v, want the sketch with why the file was not read", d)
	}
}
