package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// Issue 19's game day: the console, in a real terminal, through a drill with
// `--fault sshd-frozen@restore-etcd`. Step 2 fails on cp-2 (its sshd stops
// answering once the step begins), the operator retries at the failure's
// gate, the lab having lifted the fault, and the scorecard names the fault
// and how it was handled; lab verify holds.
func TestDrillWithAFaultShowsTheFailureTheRetryAndTheScorecardsFaultLine(t *testing.T) {
	labtest.Block(t, 227)
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	tm := newTmux(t)
	tm.start("drill", fmt.Sprintf("%s drill --dir %s --block 227 --workers 1 --keep --fault sshd-frozen@restore-etcd", bin, dir))

	var failure string
	retried := false
	deadline := time.Now().Add(15 * time.Minute) // generous: a loaded 2-core machine
	card := ""
	for card == "" && time.Now().Before(deadline) {
		scr := tm.capture("drill")
		title := gateTitle(scr)
		switch {
		case strings.Contains(scr, "Scorecard ·"):
			card = scr
		case strings.Contains(scr, "[ retry ]"): // a failed step's dialog: retry is the default
			if retried {
				t.Fatalf("a step failed again after the retry:\n%s", scr)
			}
			failure = scr
			if !strings.Contains(scr, "Restore etcd from the snapshot on every member failed") || !strings.Contains(scr, "cp-2") {
				t.Errorf("the failure is not step 2's on cp-2:\n%s", scr)
			}
			if m := namePrompt.FindStringSubmatch(scr); m != nil {
				tm.keys("drill", m[1], "Enter") // retry is the default choice
			} else {
				tm.keys("drill", "Enter")
			}
			retried = true
			tm.waitFor("drill", "the failure's dialog to close", func(s string) bool { return !strings.Contains(s, "[ retry ]") })
		case title != "" && namePrompt.MatchString(scr):
			tm.keys("drill", namePrompt.FindStringSubmatch(scr)[1], "Enter")
			tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
		case title != "" && strings.Contains(scr, "enter/y proceed ·"):
			tm.keys("drill", "y")
			tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
		}
		time.Sleep(300 * time.Millisecond)
	}
	if card == "" {
		t.Fatalf("no scorecard within the deadline:\n%s", tm.capture("drill"))
	}
	if failure == "" {
		t.Fatalf("the operator never saw step 2 fail under the fault:\n%s", card)
	}
	t.Logf("the failure the operator saw:\n%s", failure)
	t.Logf("the scorecard:\n%s", card)
	if !strings.Contains(card, "✓ fault sshd-frozen on cp-2 at restore-etcd: the step failed, fault lifted, retried 1×, passed") {
		t.Errorf("the scorecard does not record the fault and the retry:\n%s", card)
	}
	requireInvariantsShown(t, "the drill's scorecard", card)
	tm.keys("drill", "q")
	if out := tm.waitFor("drill", "the drill to exit", contains("EXIT=")); !strings.Contains(out, "EXIT=0") {
		t.Fatalf("drill did not exit 0:\n%s", out)
	}
	if b, err := exec.Command(bin, "lab", "verify", "--dir", dir).CombinedOutput(); err != nil {
		t.Fatalf("lab verify after the game day: %v\n%s", err, b)
	}
}
