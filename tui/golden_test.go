package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/etcd-dr/etcd-dr/steps"
)

// scenario is a run scripted up to one moment, with the clock at that moment.
type scenario struct {
	name string
	now  int // seconds after t0
	evs  []steps.Event
	keys []string
	// closed: the engine ended after the events (the operator aborted).
	closed bool
}

func restoreRunning() []steps.Event {
	evs := append(preflightDone(),
		stepEv(20, steps.StopApiservers, steps.Running, "parking kube-apiserver.yaml"),
		stepEv(31, steps.StopApiservers, steps.Done, "no apiserver process or listener on any node"),
		stepEv(40, steps.RestoreEtcd, steps.Running, "restoring into /var/lib/etcd-restored-20260314T0300"),
		nodeEv(41, steps.RestoreEtcd, "cp-1", steps.Done, "restored, manifest points at new data dir"),
		nodeEv(42, steps.RestoreEtcd, "cp-2", steps.Running, "etcdutl snapshot restore"),
		nodeEv(43, steps.RestoreEtcd, "cp-3", steps.Running, "waiting for etcd to stop"),
		logEv(44, "cp-2", `{"level":"info","msg":"restoring snapshot","path":"/var/lib/etcd-dr/snap.db"}`,
			`{"level":"info","msg":"restored snapshot","rev":1000048213}`),
		logEv(45, "cp-3", "etcd still running (pid 4711), waiting", "error: etcd did not stop within 30s, retrying"),
	)
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		evs = append(evs, factEv(31, steps.StopApiservers, n, "no kube-apiserver process", true, "", steps.CompAPIServer, steps.CompDown))
	}
	return evs
}

func restoreVerifying() []steps.Event {
	return append(restoreRunning(),
		nodeEv(50, steps.RestoreEtcd, "cp-2", steps.Done, "restored"),
		nodeEv(52, steps.RestoreEtcd, "cp-3", steps.Done, "restored"),
		stepEv(53, steps.RestoreEtcd, steps.Verifying, "waiting for every member to be healthy"),
		checkEv(54, steps.RestoreEtcd, "", "one cluster ID", true, "c0ffee"),
		factEv(55, steps.RestoreEtcd, "cp-1", "etcd healthy", true, "leader", steps.CompEtcd, steps.CompUp),
	)
}

func postSnapshotDetail(ok bool) string {
	if ok {
		return "42 seed objects served, 3 post-snapshot objects gone (via https://127.0.0.1:6443)"
	}
	return "configmap default/post-snapshot-1 is still served: an apiserver wrote its cache back after the restore; " +
		"configmap default/post-snapshot-2 is still served"
}

func allDone(verifyOK bool) []steps.Event {
	evs := append(restoreVerifying(),
		factEv(56, steps.RestoreEtcd, "cp-2", "etcd healthy", true, "", steps.CompEtcd, steps.CompUp),
		factEv(56, steps.RestoreEtcd, "cp-3", "etcd healthy", true, "", steps.CompEtcd, steps.CompUp),
		stepEv(60, steps.RestoreEtcd, steps.Done, "3 members healthy, revision 1000048213"),
		stepEv(61, steps.RepointApiservers, steps.Skipped, "member URLs unchanged"),
		stepEv(62, steps.StartApiservers, steps.Running, "unparking"),
		stepEv(80, steps.StartApiservers, steps.Done, "/readyz ok on 3 nodes"),
		stepEv(81, steps.FlushCaches, steps.Running, "restarting kubelets"),
		stepEv(140, steps.FlushCaches, steps.Done, "5 kubelets restarted after the restore"),
		stepEv(141, steps.VerifyReport, steps.Running, "checking invariants"),
		checkEv(146, steps.VerifyReport, "cp-1", "lock released", true, "/var/lib/etcd-dr.lock"),
		checkEv(146, steps.VerifyReport, "cp-2", "lock released", true, "/var/lib/etcd-dr.lock"),
		checkEv(146, steps.VerifyReport, "cp-3", "lock released", true, "/var/lib/etcd-dr.lock"),
		// The drill's invariants, as lab verify names them (nodes/lab/verify.go).
		checkEv(150, steps.VerifyReport, "", "no-restore-while-apiserver-ran", true, "3 restore command(s), none while an apiserver ran"),
		checkEv(150, steps.VerifyReport, "", "old-data-dirs-untouched", true, "etcd-1, etcd-2, etcd-3: old data dir as the seed left it"),
		checkEv(151, steps.VerifyReport, "", "etcd-one-healthy-cluster-one-leader", true, "3 members answer, one cluster, one leader"),
		checkEv(151, steps.VerifyReport, "", "scheduler-controller-manager-kubelets-restarted-after-restore", true,
			"every component restarted after the restore at 2026-03-14T03:01:00Z"),
		checkEv(152, steps.VerifyReport, "", "seed-served-post-snapshot-gone", verifyOK, postSnapshotDetail(verifyOK)),
	)
	if verifyOK {
		return append(evs, stepEv(155, steps.VerifyReport, steps.Done, "all invariants hold"))
	}
	return append(evs, failureGate(155, steps.VerifyReport, "verify and report",
		"post-snapshot writes are still served: an apiserver may have written during the restore")...)
}

// tallScorecard is a real drill's verify step: the engine's per-node checks
// and the lab's invariants make more lines than 24 rows hold.
func tallScorecard() []steps.Event {
	evs := allDone(true)
	done := evs[len(evs)-1]
	evs = evs[:len(evs)-1]
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		evs = append(evs,
			factEv(152, steps.VerifyReport, n, "etcd member "+n+" answers", true, "", steps.CompEtcd, steps.CompUp),
			factEv(152, steps.VerifyReport, n, "revision >= 1000048000", true, "1000048213", steps.CompEtcd, steps.CompUp))
	}
	return append(evs, checkEv(153, steps.VerifyReport, "", "last-check-of-a-long-list", true, "shown only when scrolled"), done)
}

// failureGate is what the engine sends when a step fails: the failed state,
// then the failure gate with its choices (steps/gate.go onFailure).
func failureGate(sec int, id steps.StepID, title, why string) []steps.Event {
	g := steps.Gate{Step: id, Title: title, Failure: why, Choices: []steps.Choice{steps.ChoiceRetry, steps.ChoiceReverify}}
	return []steps.Event{
		stepEv(sec, id, steps.Failed, why),
		stepEv(sec, id, steps.WaitingGate, g.Title),
		steps.GateEvent{At: at(sec), Gate: g},
	}
}

func goldenScenarios() []scenario {
	return []scenario{
		{name: "pending", now: 0},
		{name: "waiting_for_gate", now: 14, evs: append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})},
		{name: "waiting_for_gate_backed_out", now: 19, evs: append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()}), keys: []string{"esc"}},
		{name: "waiting_for_gate_with_a_diff", now: 14, evs: append(preflightDone(), steps.GateEvent{At: at(13), Gate: repointGate()})},
		{name: "waiting_for_gate_with_a_diff_expanded", now: 14, evs: append(preflightDone(), steps.GateEvent{At: at(13), Gate: repointGate()}), keys: []string{"ctrl+x"}},
		{name: "preflight_copying_the_snapshot", now: 13, evs: preflightCopying()},
		{name: "waiting_for_gate_source_pick", now: 14, evs: append(preflightDone(), steps.GateEvent{At: at(13), Gate: sourcePickGate()}), keys: []string{"right"}},
		{name: "running", now: 47, evs: restoreRunning()},
		{name: "running_nodes_focused_cp-3", now: 47, evs: restoreRunning(), keys: []string{"tab", "down", "down"}},
		{name: "running_logs_filtered", now: 47, evs: restoreRunning(), keys: []string{"tab", "tab", "/", "e", "r", "r", "enter"}},
		{name: "running_full_help", now: 47, evs: restoreRunning(), keys: []string{"tab", "tab", "?"}},
		// The nodes pane's help says why each "?" of the selected row is there.
		{name: "running_nodes_full_help_cp-3", now: 47, evs: restoreRunning(), keys: []string{"tab", "down", "down", "?"}},
		{name: "running_quit_asks_first", now: 47, evs: restoreRunning(), keys: []string{"q"}},
		{name: "verifying", now: 56, evs: restoreVerifying()},
		{name: "skipped_and_running", now: 70, evs: allDone(true)[:len(restoreVerifying())+6]},
		{name: "failed", now: 160, evs: allDone(false)},
		{name: "failed_backed_out", now: 160, evs: allDone(false), keys: []string{"esc"}},
		{name: "done_scorecard", now: 160, evs: allDone(true)},
		{name: "tall_scorecard", now: 160, evs: tallScorecard()},
		{name: "tall_scorecard_scrolled_to_the_end", now: 160, evs: tallScorecard(), keys: []string{"G"}},
		{name: "invariant_failed_scorecard", now: 170, evs: append(allDone(false),
			stepEv(165, steps.VerifyReport, steps.Failed, "backed out at the gate")), closed: true},
	}
}

// TestGoldenScreens pins what the operator sees in every step state at the
// smallest supported terminal and a wide one. Regenerate with -update.
func TestGoldenScreens(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 50}} {
		for _, sc := range goldenScenarios() {
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1]), func(t *testing.T) {
				o := Options{Decide: func(steps.Decision) {}, Drill: true, Resume: "etcd-dr console -f prod-eu1.yaml"}
				m := newTestModel(t, o, size[0], size[1], at(sc.now))
				m = feed(t, m, sc.evs...)
				m = update(t, m, press(sc.keys...)...)
				if sc.closed {
					m = update(t, m, eventsMsg{closed: true})
				}
				golden.RequireEqual(t, screen(m))
			})
		}
	}
}

// TestGoldenWatchScreens pins the read-only console of etcd-dr watch: the
// gate is shown to read, with no way to answer it.
func TestGoldenWatchScreens(t *testing.T) {
	evs := append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})
	for _, keys := range [][]string{nil, {"esc"}} {
		t.Run(fmt.Sprintf("gate_after_%d_keys", len(keys)), func(t *testing.T) {
			m := newTestModel(t, Options{ReadOnly: true}, 80, 24, at(20))
			m = feed(t, m, evs...)
			m = update(t, m, press(keys...)...)
			golden.RequireEqual(t, screen(m))
		})
	}
}

func TestAnEngineThatEndsAtAGateShowsTheScorecard(t *testing.T) {
	m := newTestModel(t, Options{Decide: func(steps.Decision) {}}, 80, 24, at(20))
	m = feed(t, m, append(preflightDone(), steps.GateEvent{At: at(13), Gate: stopGate()})...)
	m = update(t, m, eventsMsg{closed: true})
	if m.gate.pending || !m.scorecard {
		t.Fatalf("gate pending=%v scorecard=%v, want the gate gone and the scorecard shown", m.gate.pending, m.scorecard)
	}
	if s := screen(m); !strings.Contains(s, "RUN ENDED BEFORE VERIFY PASSED") {
		t.Fatalf("scorecard does not say the run ended early:\n%s", s)
	}
}

// rollbackRunbook is `etcd-dr rollback`'s runbook as the engine announces it.
func rollbackRunbook() steps.RunbookEvent {
	return steps.Announce(steps.RunbookRollback, steps.RollbackRunbook(), t0)
}

func rollbackGate() steps.Gate {
	g := steps.Gate{Step: steps.RollbackEtcd, Title: "Point every etcd member back at its old data dir", NeedsName: true,
		Cluster: "prod-eu1", Why: "Undoes the restore: each member restarts on the data it had before, which was never modified."}
	for i := 1; i <= 3; i++ {
		g.Facts = append(g.Facts, fmt.Sprintf("etcd-%d (cp-%d): back to /var/lib/etcd", i, i))
	}
	return g
}

// rollbackAtGate is a rollback whose check and stop are done, waiting at
// the destructive gate that points etcd back.
func rollbackAtGate() []steps.Event {
	evs := []steps.Event{rollbackRunbook(), stepEv(0, steps.RollbackCheck, steps.Running, "checking the old data dirs")}
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("cp-%d", i)
		evs = append(evs, cmdEv(at(1).Add(-time.Duration(2+i)*time.Millisecond), n, "sudo -n -- test -d /var/lib/etcd/member"),
			nodeEv(1, steps.RollbackCheck, n, steps.Done, "old data dir intact"))
	}
	evs = append(evs, stepEv(3, steps.RollbackCheck, steps.Done, "old data dirs intact; lock taken"),
		stepEv(5, steps.StopApiservers, steps.Running, "parking kube-apiserver.yaml"))
	for i := 1; i <= 3; i++ {
		n := fmt.Sprintf("cp-%d", i)
		evs = append(evs, factEv(12, steps.StopApiservers, n, "no kube-apiserver process", true, "", steps.CompAPIServer, steps.CompDown))
	}
	return append(evs, stepEv(14, steps.StopApiservers, steps.Done, "no apiserver process or listener"),
		steps.GateEvent{At: at(15), Gate: rollbackGate()})
}

// rollbackDone is the whole rollback run, to the lock released.
func rollbackDone() []steps.Event {
	evs := append(rollbackAtGate(), stepEv(30, steps.RollbackEtcd, steps.Running, "pointing members back"))
	for i := 1; i <= 3; i++ {
		evs = append(evs, factEv(40, steps.RollbackEtcd, fmt.Sprintf("cp-%d", i), fmt.Sprintf("etcd member etcd-%d answers", i), true, "",
			steps.CompEtcd, steps.CompUp))
	}
	return append(evs,
		stepEv(45, steps.RollbackEtcd, steps.Done, "one cluster, one leader, on the old data"),
		stepEv(46, steps.RollbackEtcdServers, steps.Done, "--etcd-servers as before the restore"),
		stepEv(47, steps.StartApiservers, steps.Running, "unparking"),
		stepEv(60, steps.StartApiservers, steps.Done, "/readyz ok on 3 nodes"),
		stepEv(61, steps.FlushCaches, steps.Running, "restarting kubelets"),
		stepEv(90, steps.FlushCaches, steps.Done, "5 kubelets restarted"),
		stepEv(91, steps.RollbackDone, steps.Running, "releasing the lock"),
		checkEv(92, steps.RollbackDone, "cp-1", "lock released", true, "/var/lib/etcd-dr.lock"),
		stepEv(92, steps.RollbackDone, steps.Done, "the cluster is back on its old data"))
}

// TestGoldenRollbackScreens pins the console of `etcd-dr rollback`: its
// own steps, numbered as its runbook numbers them, never the restore's.
func TestGoldenRollbackScreens(t *testing.T) {
	scenarios := []scenario{
		{name: "rollback_pending", now: 0, evs: []steps.Event{rollbackRunbook()}},
		{name: "rollback_at_gate", now: 16, evs: rollbackAtGate()},
		{name: "rollback_done_scorecard", now: 95, evs: rollbackDone()},
	}
	for _, size := range [][2]int{{80, 24}, {160, 50}} {
		for _, sc := range scenarios {
			t.Run(fmt.Sprintf("%s_%dx%d", sc.name, size[0], size[1]), func(t *testing.T) {
				o := Options{Decide: func(steps.Decision) {}, Resume: "etcd-dr rollback -f prod-eu1.yaml"}
				m := newBareTestModel(t, o, size[0], size[1], at(sc.now))
				m = feed(t, m, sc.evs...)
				golden.RequireEqual(t, screen(m))
			})
		}
	}
}
