package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds the loader arbitrary files. It must never panic; every
// diagnostic points at a line, and at a column too unless it is a YAML
// syntax error (yaml.v3 gives no column); and any file that loads renders an
// effective config that loads again. The seed corpus is every fixture, so plain
// `go test` runs these checks on them.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"good", "bad"} {
		for _, file := range fixtures(f, dir) {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	env := testEnv(f)
	// Files are parsed as if they lived in good/, so relative snapshot
	// paths can resolve to a real file.
	name := filepath.Join(testdataDir, "good", "fuzz.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		c, warns, err := Parse(name, data, env)
		var errs *Errors
		if err != nil && !errors.As(err, &errs) {
			t.Fatalf("Parse returned %T, not *Errors: %v", err, err)
		}
		var all []Diagnostic
		if errs != nil {
			all = errs.Diagnostics
			if c != nil {
				t.Fatal("a Cluster was returned with errors")
			}
		}
		for _, d := range append(all, warns...) {
			if d.Line <= 0 && !strings.Contains(d.Msg, "past the end of stream") {
				t.Errorf("diagnostic without a line: %s", d)
			}
			if d.Col <= 0 && !strings.HasPrefix(d.Msg, "YAML syntax:") {
				t.Errorf("diagnostic without a position: %s", d)
			}
		}
		if err != nil {
			return
		}
		out, err := c.Effective()
		if err != nil {
			t.Fatalf("Effective: %v", err)
		}
		if _, _, err := Parse(name, out, env); err != nil {
			t.Fatalf("the effective config of a good file does not load:\n%v\n%s", err, out)
		}
	})
}
