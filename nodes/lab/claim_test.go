package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An operator's directory: a cluster file beside its journal, as with
// `state.dir: state`, and names the lab uses for its own sandboxes.
func operatorDir(t *testing.T) (dir string, files map[string]string) {
	t.Helper()
	dir = t.TempDir()
	files = map[string]string{
		"cluster.yaml":             "name: prod\n",
		"state/prod/journal.jsonl": `{"run":"20261201T000000Z-abcdef"}` + "\n",
		"pki/ca.crt":               "operator's CA\n",
		"nodes/cp-1/notes":         "x\n",
		"timeline/keep":            "y\n",
		"daemon.log":               "not the lab's\n",
		// A lab's state file, but of a lab elsewhere: not proof this
		// directory is a lab's.
		"lab.json": `{"dir":"/somewhere/else"}`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestLabUpRefusesADirectoryItDidNotCreateAndDeletesNothing(t *testing.T) {
	tests := []struct {
		name string
		up   func(dir string) error
	}{
		{name: "lab up in this process", up: func(dir string) error {
			_, err := Up(context.Background(), Options{Dir: dir, Block: 250})
			return err
		}},
		{name: "lab up as a daemon (etcd-dr lab up --dir)", up: func(dir string) error {
			// The refusal comes before anything is started: the executable
			// is never run.
			_, err := Start(context.Background(), dir, "/nonexistent/etcd-dr", nil, nil)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, files := operatorDir(t)
			err := tt.up(dir)
			if err == nil || !strings.Contains(err.Error(), "refusing "+dir) || !strings.Contains(err.Error(), "new or empty directory") {
				t.Fatalf("lab up = %v, want a refusal naming %s", err, dir)
			}
			for name, body := range files {
				if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(b) != body {
					t.Errorf("%s changed or gone: %q %v", name, b, err)
				}
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 7 {
				t.Errorf("the directory now holds %d entries, want the operator's 7", len(entries))
			}
		})
	}
}

func TestTheLabClaimsOnlyNewEmptyOrItsOwnDirectories(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
	}{
		{name: "a missing directory is created and marked", prepare: func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "new", "lab")
		}},
		{name: "an empty directory is marked", prepare: func(t *testing.T) string { return t.TempDir() }},
		{name: "a directory an older lab left (its lab.json names it) is the lab's", prepare: func(t *testing.T) string {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, stateFile), []byte(`{"dir":"`+d+`"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{name: "a directory the lab marked is the lab's again", prepare: func(t *testing.T) string {
			d := t.TempDir()
			if err := claimDir(d); err != nil {
				t.Fatal(err)
			}
			return d
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.prepare(t)
			if err := claimDir(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
				t.Errorf("no marker: %v", err)
			}
		})
	}
}
