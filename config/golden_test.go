package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/config/{good,bad}/*.want from the loader's output")

const testdataDir = "../testdata/config"

// testEnv is a fixed bastion: a home with a known_hosts file, user ops, and
// the variables the fixtures use. Nothing depends on who runs the tests.
func testEnv(t testing.TB) Env {
	t.Helper()
	root, err := filepath.Abs(testdataDir)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"HOME":         filepath.Join(root, "home"),
		"ETCD_BACKUPS": filepath.Join(root, "backups"),
	}
	return Env{
		Home: vars["HOME"],
		User: "ops",
		LookupEnv: func(k string) (string, bool) {
			v, ok := vars[k]
			return v, ok
		},
	}
}

// render is what a .want file holds: the error text exactly as the CLI prints
// it, then the warnings, then (for files that load) the effective config.
// Absolute paths into testdata are shown relative so the files are portable.
func render(t *testing.T, c *Cluster, warns []Diagnostic, err error) string {
	t.Helper()
	var b strings.Builder
	if err != nil {
		b.WriteString(err.Error() + "\n")
	}
	for _, w := range warns {
		b.WriteString(w.String() + "\n")
	}
	if c != nil {
		out, err := c.Effective()
		if err != nil {
			t.Fatalf("Effective: %v", err)
		}
		b.WriteString("--- effective\n")
		b.Write(out)
	}
	abs, _ := filepath.Abs(testdataDir)
	s := strings.ReplaceAll(b.String(), abs, "TESTDATA")
	return strings.ReplaceAll(s, testdataDir+"/", "")
}

func fixtures(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testdataDir, dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	want := strings.TrimSuffix(file, ".yaml") + ".want"
	if *update {
		if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatalf("%v (run go test ./config -update to create it)", err)
	}
	if string(b) != got {
		t.Errorf("diagnostics differ from %s\n--- got\n%s--- want\n%s", want, got, b)
	}
}

func TestGoodFilesLoadAndMatchTheirEffectiveConfig(t *testing.T) {
	for _, file := range fixtures(t, "good") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, warns, err := LoadEnv(file, testEnv(t))
			if err != nil {
				t.Fatalf("a good file failed to load:\n%v", err)
			}
			checkGolden(t, file, render(t, c, warns, nil))
		})
	}
}

func TestBadFilesReportExactlyTheirDiagnostics(t *testing.T) {
	files := fixtures(t, "bad")
	if len(files) < 30 {
		t.Errorf("only %d bad fixtures; the brief asks for at least 30", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, warns, err := LoadEnv(file, testEnv(t))
			var errs *Errors
			if !errors.As(err, &errs) || c != nil {
				t.Fatalf("a bad file loaded: cluster %v, err %v", c != nil, err)
			}
			checkGolden(t, file, render(t, nil, warns, err))
		})
	}
}
