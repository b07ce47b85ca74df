package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nodeLine reports whether l is a headless node event of step with state
// (FormatEvent: "TIME node NODE STEP STATE ACTION").
func nodeLine(l, step, state string) (node string, ok bool) {
	f := strings.Fields(l)
	if len(f) < 5 || f[1] != "node" || f[3] != step || f[4] != state {
		return "", false
	}
	return f[2], true
}

// A console killed in the middle of the restore or of the cache flush —
// kill -9 of a real `etcd-dr run --headless`, or the bastion's SSH session
// dropped (SIGHUP) — leaves the journal to the next start: the same command
// resumes, re-verifies, finishes, and every lab invariant holds. A member
// whose restore had finished before the kill is not restored again: its
// second restore command finds this run's finished dir and does nothing.
func TestAConsoleKilledMidStepIsResumedByTheNextRunAndTheDrillStillVerifies(t *testing.T) {
	t.Parallel() // each case claims its own lab block (inProcessLab, detachedLab)
	for _, tc := range []struct {
		name  string
		block int
		step  string // the signal comes as soon as one node is done in it, others still running
		sig   syscall.Signal
	}{
		{"kill -9 in the middle of step 2 (restore)", 50, "restore-etcd", syscall.SIGKILL},
		{"kill -9 in the middle of step 5 (flush)", 51, "flush-caches", syscall.SIGKILL},
		{"the bastion SSH session dropped (SIGHUP) during step 2", 52, "restore-etcd", syscall.SIGHUP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := &faultRow{Case: "6 console killed: " + tc.name, Injected: map[syscall.Signal]string{syscall.SIGKILL: "kill -9", syscall.SIGHUP: "SIGHUP"}[tc.sig] + " to a real `etcd-dr run --headless` once a node is done in " + tc.step}
			defer row.log(t)
			dir, cluster := detachedLab(t, tc.block)
			first := startCLI(t, runHeadless(cluster)...)
			line := first.waitLine(t, "a node done in "+tc.step, func(l string) bool {
				_, ok := nodeLine(l, tc.step, "done")
				return ok
			})
			if err := first.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := first.wait(t); code == exitOK {
				t.Fatalf("the interrupted run exited 0:\n%s", tail(first.transcript(), 40))
			}
			doneNode, _ := nodeLine(line, tc.step, "done")

			second := startCLI(t, runHeadless(cluster)...)
			if code := second.wait(t); code != exitOK {
				t.Fatalf("resumed run exit %d:\n%s", code, tail(second.transcript(), 80))
			}
			out := second.transcript()
			if !strings.Contains(out, "flush-caches         done") {
				t.Errorf("the resumed run's scorecard lacks step 5 done:\n%s", tail(out, 40))
			}
			row.held(requireInvariants(t, dir))
			row.Saw, row.Detect = "the same command resumed from the journal and finished; full lab verify", "-"
			if tc.step == "restore-etcd" {
				requireRestoreNotRepeated(t, dir, doneNode)
				row.Saw += "; " + doneNode + " not restored again"
			}
		})
	}
}

// requireRestoreNotRepeated: at most two restore commands per member (the
// killed run's and the resumed run's), and doneNode's second one found its
// finished restore and did nothing.
func requireRestoreNotRepeated(t *testing.T, dir, doneNode string) {
	t.Helper()
	for node, n := range restoresPerMember(t, dir) {
		if n > 2 {
			t.Errorf("%s: %d restore commands; the resume restored it more than once again", node, n)
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "state", "drill", "transcript-*.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcript under %s: %v", filepath.Join(dir, "state", "drill"), err)
	}
	var text strings.Builder
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	for _, l := range strings.Split(text.String(), "\n") {
		if strings.Contains(l, doneNode) && strings.Contains(l, "already restored by run") {
			return
		}
	}
	t.Errorf("%s finished its restore before the signal, yet the transcript never shows its resumed restore "+
		"doing nothing (\"already restored by run\"): was it restored twice?\n%s", doneNode, tail(text.String(), 60))
}

// Two operators (issue 7 case 7): while a run holds the lock — frozen with
// SIGSTOP right after taking it, so it holds it for as long as the test
// needs — a second operator's engine, with its own journal, is refused
// with holder, run and time and touches nothing. Once the first is known
// dead, --force-unlock takes over, is journaled, and the drill verifies.
func TestASecondOperatorIsRefusedByTheLockAndForceUnlockTakesOverJournaled(t *testing.T) {
	row := &faultRow{Case: "7 two operators", Injected: "operator A holds the lock (frozen with SIGSTOP); operator B runs with its own journal"}
	defer row.log(t)
	dir, cluster := detachedLab(t, 53)
	first := startCLI(t, runHeadless(cluster)...)
	waitJournal(t, filepath.Join(dir, "state", "drill", "journal.jsonl"), "lock", "taken")
	if err := first.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.cmd.Process.Signal(syscall.SIGKILL) })
	holderRun := runOf(t, filepath.Join(dir, "state", "drill", "journal.jsonl"))

	second := secondOperator(t, dir, cluster)
	refused := startCLI(t, runHeadless(second)...)
	if code := refused.wait(t); code == exitOK {
		t.Fatalf("the second operator was not refused:\n%s", tail(refused.transcript(), 40))
	}
	out := refused.transcript()
	for _, want := range []string{"is held by", "run " + holderRun, "since ", "--force-unlock"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, tail(out, 30))
		}
	}
	row.Saw, row.Detect = reason(lineWith(out, "is held by")), "immediate"
	for _, l := range strings.Split(out, "\n") {
		if node, ok := nodeLine(l, "stop-apiservers", "running"); ok {
			t.Errorf("the refused run went on to step 1 on %s:\n%s", node, tail(out, 30))
		}
	}

	_ = first.cmd.Process.Signal(syscall.SIGKILL) // the holder is gone for good
	first.wait(t)
	takeover := startCLI(t, runHeadless(second, "--force-unlock")...)
	if code := takeover.wait(t); code != exitOK {
		t.Fatalf("--force-unlock run exit %d:\n%s", code, tail(takeover.transcript(), 60))
	}
	waitJournal(t, filepath.Join(dir, "state-b", "drill", "journal.jsonl"), "lock", "force-unlock")
	row.held(requireInvariants(t, dir))
	row.Saw += "; B with --force-unlock took over, journaled; full lab verify"
}

// secondOperator writes a copy of the lab's cluster file whose journal
// lives elsewhere: another operator on another bastion.
func secondOperator(t *testing.T, dir, cluster string) string {
	t.Helper()
	b, err := os.ReadFile(cluster)
	if err != nil {
		t.Fatal(err)
	}
	from := "dir: " + filepath.Join(dir, "state") + "\n"
	if !strings.Contains(string(b), from) {
		t.Fatalf("%s has no %q", cluster, from)
	}
	p := filepath.Join(dir, "cluster-b.yaml")
	s := strings.Replace(string(b), from, "dir: "+filepath.Join(dir, "state-b")+"\n", 1)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitJournal polls the journal file until it holds a record of kind and
// state.
func waitJournal(t *testing.T, path, kind, state string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(b), "\n") {
			var r struct{ Kind, State string }
			if json.Unmarshal([]byte(l), &r) == nil && r.Kind == kind && r.State == state {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never recorded %s %s:\n%s", path, kind, state, tail(string(b), 20))
}

// runOf is the run ID of the journal's last run-start.
func runOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	run := ""
	for _, l := range strings.Split(string(b), "\n") {
		var r struct{ Kind, Run string }
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind == "run-start" {
			run = r.Run
		}
	}
	if run == "" {
		t.Fatalf("%s has no run-start", path)
	}
	return run
}
