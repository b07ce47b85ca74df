package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// The headless override tests use lab block 168 (see drill_test.go for why
// every test file owns its own range).

// --override is refused before anything starts when it names no check an
// override may open: a typo, or etcd-versions (an etcd that refuses the
// restored data will not start, so no one may override it). The console
// has its own way (override CHECK at the gate), so --override without
// --headless is refused too.
func TestAHeadlessOverrideNamingNoOverridableCheckIsRefusedUpFront(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"etcd-versions can never be overridden", []string{"drill", "--headless", "--override", "etcd-versions"}, `--override "etcd-versions": not a readiness check that can be overridden`},
		{"a typo is refused with the list", []string{"run", "-f", "/nonexistent/cluster.yaml", "--headless", "--confirm", "x", "--override", "ca-era,encryption"},
			`--override "encryption": not a readiness check that can be overridden; use one of encryption-at-rest, ca-era`},
		{"the console overrides at its gate, not by flag", []string{"drill", "--override", "ca-era"}, "--override is for --headless"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, exitUsage, tc.want, &out, &errb)
			}
		})
	}
}

// A headless drill whose lab had its CA replaced after the snapshot stops
// in preflight (readiness_test.go); with --override ca-era it does what an
// operator typing `override ca-era` and the cluster name at that gate does:
// the check is overridden, journaled with who overrode it and how, and the
// restore goes past step 1. How it ends is the replaced CA's business, not
// the override's: the control plane's own components, whose kubeconfigs
// carry the old CA, may not come back (as on a real node), so the exit code
// is not what this test judges.
func TestAHeadlessRunOverridesTheReadinessChecksItNames(t *testing.T) {
	labtest.Block(t, 168)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	code := run([]string{"drill", "--headless", "--dir", dir, "--block", "168", "--workers", "1",
		"--fault", lab.FaultCAReplaced, "--override", "ca-era,automation"}, &out, &errb)
	all := out.String() + errb.String()
	if code == exitUsage {
		t.Fatalf("drill exit %d\n%s", code, tail(errb.String(), 20))
	}
	for _, w := range []string{"readiness check ca-era failed", "headless: overriding readiness check ca-era, as --override names it",
		"readiness ca-era             OVERRIDDEN", "stop-apiservers      done", "restore-etcd         done"} {
		if !strings.Contains(all, w) {
			t.Errorf("drill output lacks %q:\n%s", w, tail(errb.String(), 80))
		}
	}
	// automation passes on the lab: --override opens only failed checks.
	if strings.Contains(all, "overriding readiness check automation") {
		t.Errorf("a passing check was overridden:\n%s", tail(errb.String(), 80))
	}
	var journal strings.Builder
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "journal") {
			b, _ := os.ReadFile(p)
			journal.Write(b)
		}
		return nil
	})
	for _, w := range []string{"readiness override ca-era", "(--override ca-era)"} {
		if !strings.Contains(journal.String(), w) {
			t.Errorf("the journal lacks %q", w)
		}
	}
	requireNoAdminCredentials(t, dir, all)
}
