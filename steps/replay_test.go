package steps

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

func TestJournalRecordsReplayAsTheConsolesEvents(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	gate := Gate{Step: StopApiservers, Title: "Stop every kube-apiserver", NeedsName: true,
		Commands: []NodeCommands{{Node: "cp-1", Commands: []string{"mv a b"}, What: []string{"park a"}}}}
	offer, _ := json.Marshal(gate)
	tests := []struct {
		name string
		rec  journal.Record
		want Event
	}{
		{name: "a passed check is the check the console saw",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "stop-apiservers", Node: "cp-1",
				Check: "no kube-apiserver process", State: "ok"},
			want: CheckEvent{At: at, Step: StopApiservers, Node: "cp-1", Check: "no kube-apiserver process", OK: true}},
		{name: "a failed check keeps its detail",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "start-apiservers", Node: "cp-2",
				Check: "kube-apiserver /readyz", State: "failed", Why: "connection refused"},
			want: CheckEvent{At: at, Step: StartApiservers, Node: "cp-2", Check: "kube-apiserver /readyz",
				Detail: "connection refused"}},
		{name: "an opened gate is the whole gate, commands and their purposes included",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: offer},
			want: GateEvent{At: at, Gate: gate}},
		{name: "an opened gate whose offer cannot be read still shows its title",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: []byte(`"x"`)},
			want: GateEvent{At: at, Gate: Gate{Step: StopApiservers, Title: gate.Title}}},
		{name: "a check's fact is replayed as a field",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "stop-apiservers", Node: "cp-1",
				Check: "no kube-apiserver process", State: "ok", Component: "kube-apiserver", Proves: "down"},
			want: CheckEvent{At: at, Step: StopApiservers, Node: "cp-1", Check: "no kube-apiserver process", OK: true,
				Fact: Fact{Component: CompAPIServer, State: CompDown}}},
		{name: "an old journal's failure gate gets its failure as a field",
			rec: journal.Record{At: at, Kind: journal.KindGateOpen, Step: "restore-etcd", Why: "Restore etcd: FAILED",
				Offer: []byte(`{"Step":"restore-etcd","Title":"Restore etcd: FAILED","Why":"cp-2 unreachable","Choices":["retry"]}`)},
			want: GateEvent{At: at, Gate: Gate{Step: RestoreEtcd, Title: "Restore etcd", Failure: "cp-2 unreachable",
				Choices: []Choice{ChoiceRetry}}}},
		{name: "a run-start announces the runbook it recorded",
			rec: journal.Record{At: at, Kind: journal.KindRunStart, Run: "r1",
				Runbook: runbookJSON(Announce(RunbookRollback, RollbackRunbook(), at))},
			want: Announce(RunbookRollback, RollbackRunbook(), at)},
		{name: "an old journal's run-start announces the restore",
			rec:  journal.Record{At: at, Kind: journal.KindRunStart, Run: "r1"},
			want: Announce(RunbookRestore, Runbook(), at)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, ended := (&JournalFollower{}).recordEvents(tc.rec)
			if ended || len(evs) != 1 {
				t.Fatalf("recordEvents = %+v, ended %v; want one event", evs, ended)
			}
			got, _ := json.Marshal(evs[0])
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Errorf("event %T %s, want %T %s", evs[0], got, tc.want, want)
			}
		})
	}
}

// writeLongJournal writes, straight to disk, oldRuns finished drills of
// about 1 MiB each (every step done, VERIFY PASSED, run-end) and then a
// live run waiting at the step-2 gate; it returns the live run's ID.
func writeLongJournal(t *testing.T, path string, oldRuns int) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	put := func(r journal.Record) {
		r.At = at
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(append(b, '\n'))
	}
	detail := strings.Repeat("x", 1000)
	for i := range oldRuns {
		run := fmt.Sprintf("old-%03d", i)
		put(journal.Record{Run: run, Kind: journal.KindRunStart, Who: "ops@bastion"})
		for n := range 1000 {
			put(journal.Record{Run: run, Kind: journal.KindCheck, Step: string(RestoreEtcd), Node: fmt.Sprintf("cp-%d", n%3+1),
				Check: "etcd healthy", State: "ok", Why: detail})
		}
		for _, s := range Runbook() {
			put(journal.Record{Run: run, Kind: journal.KindStep, Step: string(s.ID), State: Done.String(), Why: "post-condition verified"})
		}
		put(journal.Record{Run: run, Kind: journal.KindRunEnd, State: "done"})
	}
	live := "live-run"
	gate, _ := json.Marshal(Gate{Step: RestoreEtcd, Title: "Restore etcd", NeedsName: true})
	put(journal.Record{Run: live, Kind: journal.KindRunStart, Who: "ops@bastion"})
	put(journal.Record{Run: live, Kind: journal.KindStep, Step: string(Preflight), State: Done.String()})
	put(journal.Record{Run: live, Kind: journal.KindStep, Step: string(StopApiservers), State: Done.String()})
	put(journal.Record{Run: live, Kind: journal.KindGateOpen, Step: string(RestoreEtcd), Why: "Restore etcd", Offer: gate})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return live
}

// The follower tells the next step from the run's own runbook: after the
// rollback's stop, its next gate is the rollback's, not the restore's.
func TestTheStepAfterADoneStepIsTheRunsOwnRunbooks(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	f := &JournalFollower{}
	f.recordEvents(journal.Record{At: at, Kind: journal.KindRunStart, Run: "r1",
		Runbook: runbookJSON(Announce(RunbookRollback, RollbackRunbook(), at))})
	evs, _ := f.recordEvents(journal.Record{At: at, Kind: journal.KindStep, Step: string(StopApiservers), State: Done.String()})
	if len(evs) != 2 || evs[1].(StepEvent).Step != RollbackEtcd || evs[1].(StepEvent).State != WaitingGate {
		t.Fatalf("after stop-apiservers done: %+v, want rollback-etcd waiting at its gate", evs)
	}
}

// watch follows the live run, however long the journal (issue 15 item 6):
// with 50 MiB of finished drills before it, the second pair of eyes sees
// the live run waiting at the step-2 gate, never an old run's VERIFY PASSED.
func TestWatchShowsTheLiveRunAtTheEndOfA50MiBJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	writeLongJournal(t, path, 50)
	if st, err := os.Stat(path); err != nil || st.Size() < 50<<20 {
		t.Fatalf("the journal is not 50 MiB: %v %v", st.Size(), err)
	}
	w := NewJournalFollower(path)
	var evs []Event
	for range 100 { // each poll reads at most 4 MiB; stop once caught up
		got, ended, err := w.Poll()
		if err != nil {
			t.Fatal(err)
		}
		if ended {
			t.Fatalf("watch stopped at an old run's end; the live run was never shown (after %d events)", len(evs))
		}
		if len(got) == 0 && len(evs) > 0 {
			break
		}
		evs = append(evs, got...)
	}
	sawGate := false
	for _, ev := range evs {
		switch e := ev.(type) {
		case StepEvent:
			if e.Step == VerifyReport && e.State == Done {
				t.Fatalf("watch showed an old run's VERIFY PASSED for the live run")
			}
		case CheckEvent:
			t.Fatalf("watch showed an old run's check: %+v", e)
		case GateEvent:
			sawGate = sawGate || e.Gate.Step == RestoreEtcd
		}
	}
	if !sawGate {
		t.Errorf("watch never showed the live run waiting at the step-2 gate; events: %d", len(evs))
	}
}
