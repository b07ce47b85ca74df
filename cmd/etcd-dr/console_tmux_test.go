package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// This file's labs use blocks 70–79 of 127.B.x.y (see drill_test.go).

// The console as an operator meets it: the real binary in a real terminal
// (tmux, 120×40), driven only by keys, through every gate of a fresh lab —
// a wrong cluster name refused, the right one typed at each destructive
// gate — while `etcd-dr watch` follows the same run read-only in a second
// terminal. It ends with the inventory filled in from the engine's own
// events and `lab verify` passing.
func TestConsoleInTmuxTakesTheLabThroughTheWholeProcedure(t *testing.T) {
	tm, bin, dir := startDrillInTmux(t, 70, "")

	answered, card := driveGates(t, tm, dir, bin)
	// Steps 1 and 2 are destructive; preflight and steps 3–5 are not.
	if answered.typed != 2 || answered.proceeded < 4 || answered.refused != 1 {
		t.Errorf("typed the name at %d gates, proceeded at %d, refused %d wrong names; want 2, >= 4, 1",
			answered.typed, answered.proceeded, answered.refused)
	}

	// The drill checked lab verify's invariants before its console closed:
	// the scorecard shows each of them.
	requireInvariantsShown(t, "the drill's scorecard", card)
	t.Logf("the drill's scorecard (go test -v shows it):\n%s", card)

	// Back from the scorecard to the run: every column filled in.
	tm.keys("drill", "Escape")
	row := regexp.MustCompile(`cp-1 +cp\+etcd +ok \S+ +up +up +up +up +up `)
	tm.waitFor("drill", "the inventory with SSH and every component up on cp-1", row.MatchString)

	w := tm.waitFor("watch", "the watcher's scorecard", contains("RESTORE COMPLETE"))
	if !strings.Contains(w, "read-only") {
		t.Errorf("watch does not say it is read-only:\n%s", w)
	}
	requireInvariantsShown(t, "the watcher's scorecard", w)
	// The watcher read the same checks from the journal: its inventory is
	// the console's, not a row of "?".
	tm.keys("watch", "Escape")
	tm.waitFor("watch", "the watcher's inventory with SSH and every component up on cp-1", row.MatchString)
	tm.keys("watch", "q")
	tm.waitFor("watch", "watch to exit 0", contains("EXIT=0"))

	tm.quitAndVerify(bin, dir)
}

// startDrillInTmux builds the binary and starts `etcd-dr drill` on a fresh
// lab in block b (with extra flags) in the tmux session "drill"; the lab is
// taken down when the test ends.
func startDrillInTmux(t *testing.T, b int, extra string) (tm *tmux, bin, dir string) {
	t.Helper()
	labtest.Block(t, b)
	bin = buildBinary(t)
	dir = filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	tm = newTmux(t)
	tm.start("drill", strings.TrimSpace(fmt.Sprintf("%s drill --dir %s --block %d --workers 1 --keep %s", bin, dir, b, extra)))
	return tm, bin, dir
}

// answerGate confirms the open gate titled title on screen scr, typing the
// cluster name where it is asked for, and waits for the gate to close; it
// reports false when scr shows no gate to answer.
func (tm *tmux) answerGate(scr, title string) bool {
	tm.t.Helper()
	switch {
	case title == "":
		return false
	case namePrompt.MatchString(scr):
		tm.keys("drill", namePrompt.FindStringSubmatch(scr)[1], "Enter")
	case strings.Contains(scr, "enter/y proceed ·"):
		tm.keys("drill", "y")
	default:
		return false
	}
	tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
	return true
}

// quitAndVerify leaves the drill's console, which must exit 0, and runs
// lab verify on its lab; it returns what lab verify printed.
func (tm *tmux) quitAndVerify(bin, dir string) string {
	tm.t.Helper()
	tm.keys("drill", "q")
	if out := tm.waitFor("drill", "the drill to exit", contains("EXIT=")); !strings.Contains(out, "EXIT=0") {
		tm.t.Fatalf("drill did not exit 0:\n%s", out)
	}
	b, err := exec.Command(bin, "lab", "verify", "--dir", dir).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("lab verify after the drill: %v\n%s", err, b)
	}
	return string(b)
}

type gateCount struct{ typed, proceeded, refused int }

// requireInvariantsShown fails unless screen lists every invariant of lab
// verify as passed.
func requireInvariantsShown(t *testing.T, where, screen string) {
	t.Helper()
	for _, name := range []string{lab.CheckNoRestoreWhileApiserver, lab.CheckOldDataIntact, lab.CheckEtcdHealthy,
		lab.CheckRestartedAfterRestore, lab.CheckObjects} {
		if !strings.Contains(screen, "✓ "+name) {
			t.Errorf("%s does not show invariant %s as passed:\n%s", where, name, screen)
		}
	}
}

var namePrompt = regexp.MustCompile(`Type the cluster name (\S+) to confirm:`)

// driveGates answers every gate until the scorecard shows, starting the
// watcher once the run has a journal; it returns the scorecard's screen.
func driveGates(t *testing.T, tm *tmux, dir, bin string) (gateCount, string) {
	t.Helper()
	var n gateCount
	watching := false
	deadline := time.Now().Add(15 * time.Minute) // generous: a loaded 2-core machine
	for time.Now().Before(deadline) {
		scr := tm.capture("drill")
		if !watching && fileExists(journal.FilePath(filepath.Join(dir, "state"), "drill")) {
			tm.start("watch", fmt.Sprintf("%s watch -f %s", bin, filepath.Join(dir, "cluster.yaml")))
			watching = true
		}
		title := gateTitle(scr)
		switch {
		case strings.Contains(scr, "Scorecard ·"):
			if !watching {
				t.Fatal("the run ended before its journal appeared")
			}
			return n, scr
		case strings.Contains(scr, " failed") && title != "":
			t.Fatalf("a step failed:\n%s", scr)
		case title != "" && namePrompt.MatchString(scr):
			name := namePrompt.FindStringSubmatch(scr)[1]
			if n.refused == 0 {
				refuseWrongName(t, tm, name)
				n.refused++
			}
			tm.keys("drill", name, "Enter")
			n.typed++
			tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
		case title != "" && strings.Contains(scr, "enter/y proceed ·"):
			tm.keys("drill", "y")
			n.proceeded++
			tm.waitFor("drill", "the gate "+title+" to close", func(s string) bool { return gateTitle(s) != title })
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("no scorecard within the deadline:\n%s", tm.capture("drill"))
	return n, ""
}

// refuseWrongName types a near miss: the gate must stay shut and say so.
func refuseWrongName(t *testing.T, tm *tmux, name string) {
	t.Helper()
	wrong := name + "x"
	tm.keys("drill", wrong, "Enter")
	tm.waitFor("drill", "the wrong name refused", contains("is not this cluster's name"))
	for range wrong {
		tm.keys("drill", "BSpace")
	}
}

func gateTitle(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if i := strings.Index(l, "Gate · "); i >= 0 {
			return strings.TrimSpace(strings.Trim(l[i:], "│ "))
		}
	}
	return ""
}

func contains(s string) func(string) bool {
	return func(screen string) bool { return strings.Contains(screen, s) }
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// buildBinary builds etcd-dr into a temporary directory: the test drives
// the binary an operator runs, not the test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "etcd-dr")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

// tmux is a private tmux server (its own socket, in the test's temporary
// directory), so the test neither sees nor disturbs anyone's sessions, ends
// every process it started and leaves no socket behind.
type tmux struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatalf("tmux is needed for this test (.ci/run installs it): %v", err)
	}
	tm := &tmux{t: t, socket: filepath.Join(t.TempDir(), "tmux")}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	return tm
}

// start opens a 120×40 session running cmd; the shell then prints its exit
// status and waits, so the last screen can still be read.
func (tm *tmux) start(name, cmd string) {
	tm.t.Helper()
	tm.run("new-session", "-d", "-x", "120", "-y", "40", "-s", name, "sh", "-c", cmd+"; echo EXIT=$?; sleep 3600")
}

func (tm *tmux) keys(session string, keys ...string) {
	tm.t.Helper()
	for _, k := range keys {
		args := []string{"send-keys", "-t", session}
		if k != "Enter" && k != "Escape" && k != "BSpace" {
			args = append(args, "-l") // literal text, not key names
		}
		tm.run(append(args, k)...)
	}
}

func (tm *tmux) capture(session string) string {
	tm.t.Helper()
	return tm.run("capture-pane", "-p", "-t", session)
}

// waitFor polls the screen until ok holds; the deadline is generous, it
// bounds a hang, it does not time anything.
func (tm *tmux) waitFor(session, what string, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		scr := tm.capture(session)
		if ok(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waited 3m for %s; the screen:\n%s", what, scr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
