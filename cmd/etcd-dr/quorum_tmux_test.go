package main

import (
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// The majority-lost drill through the console, in a real terminal: step 1's
// gate shows the members ranked and offers the survivor as a typed source
// choice, the operator confirms it with the cluster name, and the drill
// ends with the post-snapshot writes served (lab verify).
func TestConsoleDrillPicksTheSourceMemberAtTheGate(t *testing.T) {
	tm, bin, dir := startDrillInTmux(t, 181, "--snapshot-from best-member --fault majority-lost")

	pick, card := "", ""
	deadline := time.Now().Add(15 * time.Minute) // generous: a loaded 2-core machine
	for card == "" && time.Now().Before(deadline) {
		scr := tm.capture("drill")
		title := gateTitle(scr)
		switch {
		case strings.Contains(scr, "Scorecard ·"):
			card = scr
		case strings.Contains(scr, "[ retry ]"):
			t.Fatalf("a step failed:\n%s", scr)
		case title != "" && strings.Contains(scr, "[ source=cp-2 ]"): // the pick: the survivor is the default
			pick = scr
			tm.keys("drill", namePrompt.FindStringSubmatch(scr)[1], "Enter")
			tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
		default:
			tm.answerGate(scr, title)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if card == "" {
		t.Fatalf("no scorecard within the deadline:\n%s", tm.capture("drill"))
	}
	if pick == "" {
		t.Fatalf("no gate offered the source member:\n%s", card)
	}
	t.Logf("the gate that offered the source:\n%s", pick)
	if !strings.Contains(pick, "Stop every kube-apiserver") || !strings.Contains(pick, "source=cp-2:") {
		t.Errorf("the source is not offered, with its meaning, at step 1's gate:\n%s", pick)
	}
	if !strings.Contains(card, "✓ "+lab.CheckObjectsKept) {
		t.Errorf("the scorecard does not show the post-snapshot writes kept:\n%s", card)
	}
	if out := tm.quitAndVerify(bin, dir); !strings.Contains(out, lab.CheckObjectsKept) {
		t.Fatalf("lab verify after the drill does not check the post-snapshot writes:\n%s", out)
	}
}
