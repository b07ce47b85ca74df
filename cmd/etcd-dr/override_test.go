package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

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
// restore runs. The fault leaves the cluster as a finished CA rotation does
// (new CA, apiserver serving certificates reissued by it, components
// restarted), so the restore ends as on a real cluster: every step done and
// the verify step's convergence checks passed (the nodes' certificates are
// of the new era and stay right), and kube-controller-manager, restarted at
// step 5, republishes the restored old-era kube-root-ca.crt ConfigMaps with
// the new CA, as the check's message tells the operator.
func TestAHeadlessRunOverridesTheReadinessChecksItNames(t *testing.T) {
	labtest.Block(t, 168)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	code := run([]string{"drill", "--headless", "--keep", "--dir", dir, "--block", "168", "--workers", "1",
		"--fault", lab.FaultCAReplaced, "--override", "ca-era,automation"}, &out, &errb)
	all := out.String() + errb.String()
	if code != exitOK {
		t.Fatalf("drill exit %d, want %d\nstdout:\n%s\nstderr (tail):\n%s", code, exitOK, &out, tail(errb.String(), 40))
	}
	for _, w := range []string{"readiness check ca-era failed", "headless: overriding readiness check ca-era, as --override names it",
		"readiness ca-era             OVERRIDDEN", "Keep the nodes' CA", "stop-apiservers      done", "restore-etcd         done",
		"flush-caches         done", "verify               done", " passed, 0 failed"} {
		if !strings.Contains(all, w) {
			t.Errorf("drill output lacks %q:\n%s", w, tail(errb.String(), 80))
		}
	}
	if strings.Contains(out.String(), "FAILED") {
		t.Errorf("the scorecard has a failed check:\n%s", &out)
	}
	// automation passes on the lab: --override opens only failed checks.
	if strings.Contains(all, "overriding readiness check automation") {
		t.Errorf("a passing check was overridden:\n%s", tail(errb.String(), 80))
	}
	requireRootCAsRepublished(t, dir)
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

// requireRootCAsRepublished waits until every kube-root-ca.crt ConfigMap
// carries the lab's CA now (DIR/pki/ca.crt, the new one after ca-replaced):
// the restored ones carried the old CA, and kube-controller-manager's
// root-ca-cert-publisher rewrites them once a restarted controller-manager
// holds the leader Lease. Deadline: 3 minutes, for a leader election and a
// first sync of every namespace on loaded cores.
func requireRootCAsRepublished(t *testing.T, dir string) {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stale []string
	for {
		stale = nil
		var cms *corev1.ConfigMapList
		cms, err = cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
		if err == nil {
			for _, cm := range cms.Items {
				if cm.Data["ca.crt"] != string(ca) {
					stale = append(stale, cm.Namespace)
				}
			}
			if len(cms.Items) > 0 && len(stale) == 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("kube-root-ca.crt still carries the old CA in %v (last error: %v)", stale, err)
		case <-time.After(time.Second):
		}
	}
}
