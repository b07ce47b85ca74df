package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The convergence tests use lab blocks 215–224 (see drill_test.go for why
// every test file owns its own range).

// After step 5 the verify step proves through the Kubernetes API, with the
// admin credentials read from a control-plane node, that the restored
// cluster converged: every node (each lab kubelet registers its Node and
// renews its Lease as the real one does) came back, a watch from before
// the restore is refused with 410, default/kubernetes lists the running
// apiservers, the scheduler and controller-manager (real binaries) won
// their leader leases again. A worker whose kubelet does not come back from
// step 5 is named at the verify gate, and the headless run stops there.
func TestDrillProvesTheClusterConverged(t *testing.T) {
	nodeOK := func(n string) string { return fmt.Sprintf("ok     %-8s %s", n, steps.CheckNodeLease) }
	clusterOK := func(check string) string { return fmt.Sprintf("ok     %-8s %s", "cluster", check) }
	for _, tc := range []struct {
		name      string
		block     string
		args      []string
		exit      int
		want      []string
		forbidden []string
	}{
		{"a default drill passes every convergence check", "215", nil, exitOK,
			[]string{nodeOK("cp-1"), nodeOK("cp-2"), nodeOK("cp-3"), nodeOK("w-1"),
				clusterOK(steps.CheckWatchRelist),
				// The lab's apiservers advertise 240.B.10.N (nodes/lab
				// advertiseAddr), so the endpoint reconciler writes it.
				clusterOK(steps.CheckAPIEndpoints + " — 240.215.10.1, 240.215.10.2, 240.215.10.3"),
				clusterOK(steps.CheckLeaderLease + " — kube-scheduler held by"),
				clusterOK(steps.CheckLeaderLease + " — kube-controller-manager held by"),
				" passed, 0 failed", "verify               done"},
			[]string{"FAILED"}},
		{"a worker whose kubelet does not come back is named at the verify gate", "216", []string{"--kubelet-down", "w-1"}, exitFailed,
			[]string{"failed: w-1: not converged",
				"w-1: did not come back", "check FAIL w-1      " + steps.CheckNodeLease,
				"headless: verify failed: w-1: not converged"},
			// Steps' waits report transient FAIL checks while they poll: only
			// the verify step's outcome names nodes.
			[]string{"check FAIL cp-1     " + steps.CheckNodeLease, "check FAIL cp-2     " + steps.CheckNodeLease,
				"check FAIL cp-3     " + steps.CheckNodeLease}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.Block(t, mustAtoi(t, tc.block))
			dir := filepath.Join(t.TempDir(), "lab")
			t.Cleanup(func() {
				if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
					t.Errorf("lab down: %v", err)
				}
			})
			var out, errb bytes.Buffer
			args := append([]string{"drill", "--headless", "--dir", dir, "--block", tc.block, "--workers", "1"}, tc.args...)
			code := run(args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.exit {
				t.Fatalf("drill exit %d, want %d\nstdout:\n%s\nstderr (tail):\n%s", code, tc.exit, &out, tail(errb.String(), 80))
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("drill output lacks %q:\nstdout:\n%s\nstderr (tail):\n%s", w, &out, tail(errb.String(), 80))
				}
			}
			for _, f := range tc.forbidden {
				if strings.Contains(all, f) {
					t.Errorf("drill output has %q:\nstdout:\n%s", f, &out)
				}
			}
			requireNoAdminCredentials(t, dir, all)
		})
	}
}

// The compaction proof can fail: the same lab restored the way many
// hand-written procedures do, a plain `etcdutl snapshot restore` with
// neither --bump-revision nor --mark-compacted, leaves the revisions from
// before the restore unrefused, and the verify step says so instead of
// passing. etcdutl refuses --bump-revision without --mark-compacted, so no
// cluster file or lab fault makes etcd-dr restore so: the engine's FAKE knob
// (steps.FakeRestoreWithoutCompaction) stands in for that restore, for this
// test only. With both flags (the default drill above) the same read is
// refused as compacted.
func TestRevisionFromBeforeTheRestoreIsNotRefusedWithoutMarkCompacted(t *testing.T) {
	dir, cluster := detachedLab(t, 200)
	noCompact := editCluster(t, cluster, "    mode: static-pod\n", "") // its own file, which the FAKE knob names
	steps.FakeRestoreWithoutCompaction(noCompact)
	var out, errb bytes.Buffer
	code := run(runHeadless(noCompact), &out, &errb)
	all := out.String() + errb.String()
	if code == exitOK {
		t.Fatalf("a restore without --mark-compacted passed the verify step:\n%s", tail(all, 80))
	}
	for _, w := range []string{"check FAIL cluster  " + steps.CheckWatchRelist,
		"--mark-compacted?)", "headless: verify failed: watch-410: not converged"} {
		if !strings.Contains(all, w) {
			t.Errorf("output lacks %q:\n%s", w, tail(all, 120))
		}
	}
	for _, f := range []string{"check ok   cluster  " + steps.CheckWatchRelist} {
		if strings.Contains(all, f) {
			t.Errorf("output has %q:\n%s", f, tail(all, 80))
		}
	}
	requireNoAdminCredentials(t, dir, all)
}

// requireNoAdminCredentials: the admin token the run read from admin.conf
// is nowhere in what the operator saw, the journal or the transcripts.
func requireNoAdminCredentials(t *testing.T, dir, saw string) {
	t.Helper()
	var st struct {
		Tokens lab.Tokens `json:"tokens"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "lab.json"))
	must(t, err)
	must(t, json.Unmarshal(b, &st))
	if st.Tokens.Admin == "" {
		t.Fatalf("no admin token in %s", filepath.Join(dir, "lab.json"))
	}
	tokens := []string{st.Tokens.Admin}
	texts := map[string]string{"the output": saw}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasPrefix(d.Name(), "journal") || strings.HasPrefix(d.Name(), "transcript-")) {
			if b, err := os.ReadFile(p); err == nil {
				texts[p] = string(b)
			}
		}
		return nil
	})
	if len(texts) < 2 {
		t.Errorf("no journal or transcript under %s", dir)
	}
	for where, text := range texts {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("the admin token leaked into %s", where)
			}
		}
		if strings.Contains(text, "client-key-data: LS0") {
			t.Errorf("a client key leaked into %s", where)
		}
	}
}
