package steps

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

const helperEnv = "ETCD_DR_STEPS_HELPER"

// helperMain is a console in a child process: it runs the file steps with a
// "write" that hangs, so the parent can kill -9 it mid-step.
func helperMain() int {
	state, dir := os.Getenv("HELPER_STATE"), os.Getenv("HELPER_DIR")
	cl := testCluster(state)
	j, err := journal.Open(state, cl.Name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	e, err := New(Options{Cluster: cl, Exec: &localExec{env: []string{"SLOW=1"}}, Journal: j, Steps: fileSteps(dir), Who: "child@bastion"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() {
		for ev := range e.Events() {
			if g, ok := ev.(GateEvent); ok {
				e.Decide(yes(g.Gate, 0))
			}
		}
	}()
	_, err = e.Run(context.Background())
	fmt.Fprintln(os.Stderr, "helper ended:", err)
	return 1
}

func TestAConsoleKilledMidStepResumesWithTheSameValuesAndReRunsOnlyThatStep(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), helperEnv+"=1", "HELPER_STATE="+r.state, "HELPER_DIR="+r.dir)
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			syscall.Kill(-child.Process.Pid, syscall.SIGKILL)
			child.Wait()
		}
	})
	waitFor(t, 20*time.Second, "the child to start writing", func() bool {
		for _, rec := range r.records(t) {
			if rec.Kind == "step" && rec.Step == "write" && rec.State == "running" {
				b, _ := os.ReadFile(filepath.Join(journal.Dir(r.state, r.cluster.Name), "transcript-"+rec.Run+".log"))
				return strings.Count(string(b), "sleep 30") >= 2
			}
		}
		return false
	})
	// kill -9 the console and everything it started, as a dying bastion would.
	syscall.Kill(-child.Process.Pid, syscall.SIGKILL)
	child.Wait()
	killed = true
	before := r.records(t)
	var childValues Values
	if rp, _ := replay(before, fileSteps(r.dir)); rp.open {
		childValues = rp.values
	} else {
		t.Fatalf("the killed run is not open in the journal; child said: %s", stderr.String())
	}

	e := r.engine(t, nil)
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	if e.Values().Token != childValues.Token || e.Values().Run != childValues.Run {
		t.Errorf("resumed with %s/%s, the child decided %s/%s", e.Values().Run, e.Values().Token, childValues.Run, childValues.Token)
	}
	if c.gates[0].Step != "write" {
		t.Errorf("first gate after the crash is %s, want write (decide is done and re-verified)", c.gates[0].Step)
	}
	for _, n := range r.cluster.Nodes {
		if b, _ := os.ReadFile(filepath.Join(r.dir, n.Name)); string(b) != childValues.Token {
			t.Errorf("%s holds %q, want the child's token %q", n.Name, b, childValues.Token)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestResumeFromAJournalCutAtEveryRecord replays every prefix of a complete
// run's journal (and a torn half-record after it) and checks that the
// engine resumes at the step after the last one done, with the same values.
func TestResumeFromAJournalCutAtEveryRecord(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	full, err := os.ReadFile(filepath.Join(journal.Dir(r.state, r.cluster.Name), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(full), "\n"), "\n")
	for k := 0; k < len(lines); k++ {
		prefix := strings.Join(lines[:k], "")
		if k < len(lines) {
			prefix += lines[k][:len(lines[k])/2] // torn mid-write
		}
		t.Run(fmt.Sprintf("cut after %d records", k), func(t *testing.T) {
			resumeFrom(t, r, prefix, e.Values())
		})
	}
}

func resumeFrom(t *testing.T, orig *rig, prefix string, origValues Values) {
	t.Helper()
	r := &rig{dir: orig.dir, state: t.TempDir(), exec: &localExec{}}
	r.cluster = testCluster(r.state)
	jdir := journal.Dir(r.state, r.cluster.Name)
	os.MkdirAll(jdir, 0o700)
	if err := os.WriteFile(filepath.Join(jdir, "journal.jsonl"), []byte(prefix), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, _ := journal.Read(strings.NewReader(prefix))
	rp, err := replay(recs, fileSteps(r.dir))
	if err != nil {
		t.Fatal(err)
	}
	e := r.engine(t, nil)
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	steps := fileSteps(r.dir)
	switch {
	case !rp.open:
		if e.Values().Run == origValues.Run {
			t.Errorf("no open run in the prefix, yet the engine reused run %s", origValues.Run)
		}
	default:
		if rp.values.Token != "" && e.Values().Token != rp.values.Token {
			t.Errorf("resumed with token %s, the journal decided %s", e.Values().Token, rp.values.Token)
		}
		if e.Values().Run != origValues.Run {
			t.Errorf("resumed as run %s, want the open run %s", e.Values().Run, origValues.Run)
		}
		if rp.next < len(steps) && c.gates[0].Step != steps[rp.next].ID {
			t.Errorf("first gate %s, want %s", c.gates[0].Step, steps[rp.next].ID)
		}
	}
	for _, n := range r.cluster.Nodes {
		if b, _ := os.ReadFile(filepath.Join(r.dir, n.Name)); string(b) != e.Values().Token {
			t.Errorf("%s holds %q, want %q", n.Name, b, e.Values().Token)
		}
	}
}
