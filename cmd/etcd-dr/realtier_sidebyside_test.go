package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// The lab kubelet must not silently diverge from the real one: the same
// headless drill (3 stacked control planes, 1 worker, etcd 3.6.6) runs on
// the default tier (lab block 12) and on the real tier (slot 12), and the
// typed events their journals hold must agree: every step's outcome, and
// every passed check's node, component and state (what the engine proved
// about etcd, kube-apiserver, kube-scheduler, kube-controller-manager and
// the kubelets on which node, step by step), or for a check that proves no
// component its step, node and name (addresses and run IDs masked); and
// `lab verify`'s invariants on both kept labs. Details, times and the
// checks that failed while a wait polled are not compared: they differ by
// timing alone. Each tier's scorecard (per-step times) is logged.
func TestTheSameDrillOnTheLabKubeletAndTheRealOneAgrees(t *testing.T) {
	type tier struct {
		name string
		args []string
	}
	got := map[string]drillFacts{}
	for _, tr := range []tier{
		{"lab kubelet", []string{"--block", "12"}},
		{"real kubelet", []string{"--kubelet", "real", "--block", "12"}},
	} {
		t.Run(tr.name, func(t *testing.T) {
			// Run one after the other (not parallel): the comparison needs
			// both, and two labs at once on 2 cores slow both.
			if tr.name == "real kubelet" {
				realSlotLock(t, 12)
			} else {
				labtestBlockSerial(t, 12)
			}
			dir := filepath.Join(t.TempDir(), "lab")
			t.Cleanup(func() {
				if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
					t.Errorf("lab down: %v", err)
				}
			})
			var out, errb bytes.Buffer
			args := append([]string{"drill", "--headless", "--keep", "--dir", dir, "--workers", "1"}, tr.args...)
			start := time.Now()
			if code := run(args, &out, &errb); code != exitOK {
				t.Fatalf("drill exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, &out, tail(errb.String(), 60))
			}
			t.Logf("%s: drill in %s\n%s", tr.name, time.Since(start).Round(time.Second), &out)
			d := readDrillFacts(t, filepath.Join(dir, "cluster.yaml"))
			rep, err := lab.Verify(context.Background(), dir)
			must(t, err)
			for _, c := range rep.Checks {
				d.facts = append(d.facts, fmt.Sprintf("lab verify: %s ok=%v", c.Name, c.OK))
			}
			slices.Sort(d.facts)
			got[tr.name] = d
		})
	}
	a, b := got["lab kubelet"], got["real kubelet"]
	if a.steps == nil || b.steps == nil {
		t.Fatal("a tier's drill did not run; nothing to compare")
	}
	if !slices.Equal(a.steps, b.steps) {
		t.Errorf("step outcomes differ:\nlab kubelet:  %v\nreal kubelet: %v", a.steps, b.steps)
	}
	for _, f := range a.facts {
		if !slices.Contains(b.facts, f) {
			t.Errorf("only the lab kubelet's drill proved %s", f)
		}
	}
	for _, f := range b.facts {
		if !slices.Contains(a.facts, f) {
			t.Errorf("only the real kubelet's drill proved %s", f)
		}
	}
	t.Logf("both tiers proved %d facts", len(a.facts))
}

// labtestBlockSerial holds lab block b machine-wide for t, with the flock
// labtest.Block takes (same file), but without marking t parallel: a
// parallel subtest would only run after its parent compared nothing.
func labtestBlockSerial(t *testing.T, b int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("etcd-dr-lab-block-%d.lock", b)), os.O_CREATE|os.O_RDWR, 0o666)
	must(t, err)
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// drillFacts is what a run's journal says in typed events: each step's
// last state in order, and each passed check's step, node, component and
// state (checks without a fact count by step and node only).
type drillFacts struct {
	steps []string
	facts []string
}

func readDrillFacts(t *testing.T, clusterFile string) drillFacts {
	t.Helper()
	cl, err := loadCluster(clusterFile, io.Discard)
	must(t, err)
	evs, _, err := steps.NewJournalFollower(journal.FilePath(cl.State.Dir, cl.Name)).Poll()
	must(t, err)
	var d drillFacts
	last := map[steps.StepID]string{}
	var order []steps.StepID
	for _, e := range evs {
		switch e := e.(type) {
		case steps.StepEvent:
			if _, ok := last[e.Step]; !ok {
				order = append(order, e.Step)
			}
			last[e.Step] = e.State.String()
		case steps.CheckEvent:
			if !e.OK {
				continue
			}
			f := fmt.Sprintf("%s: %s %s %s", e.Step, nodeOrCluster(e.Node), e.Fact.Component, e.Fact.State)
			if e.Fact.Component == "" {
				f = fmt.Sprintf("%s: %s check %q", e.Step, nodeOrCluster(e.Node), masked.ReplaceAllString(e.Check, "<masked>"))
			}
			if !slices.Contains(d.facts, f) {
				d.facts = append(d.facts, f)
			}
		}
	}
	for _, s := range order {
		d.steps = append(d.steps, string(s)+"="+last[s])
	}
	slices.Sort(d.facts)
	return d
}

// masked are what differs between two labs by construction: their
// addresses (127.B.x.y, 198.51.100.x) and run IDs.
var masked = regexp.MustCompile(`\b(127\.\d+\.\d+\.\d+|198\.51\.100\.\d+|\d{8}T\d{6}Z-[0-9a-f]{6})\b`)

func nodeOrCluster(n string) string {
	if n == "" {
		return "cluster"
	}
	return n
}
