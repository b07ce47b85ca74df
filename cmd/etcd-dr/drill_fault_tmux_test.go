package main

import (
	"strings"
	"testing"
	"time"
)

// Issue 19's game day: the console, in a real terminal, through a drill with
// `--fault sshd-frozen@restore-etcd`. Step 2 fails on cp-2 (its sshd stops
// answering once the step begins), the operator retries at the failure's
// gate, the lab having lifted the fault, and the scorecard names the fault
// and how it was handled; lab verify holds.
func TestDrillWithAFaultShowsTheFailureTheRetryAndTheScorecardsFaultLine(t *testing.T) {
	tm, bin, dir := startDrillInTmux(t, 227, "--fault sshd-frozen@restore-etcd")

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
		default:
			tm.answerGate(scr, title)
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
	tm.quitAndVerify(bin, dir)
}
