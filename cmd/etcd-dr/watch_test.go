package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

func TestWatchTurnsJournalRecordsIntoTheConsolesEvents(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	gate := steps.Gate{Step: steps.StopApiservers, Title: "Stop every kube-apiserver", NeedsName: true,
		Commands: []steps.NodeCommands{{Node: "cp-1", Commands: []string{"mv a b"}, What: []string{"park a"}}}}
	offer, _ := json.Marshal(gate)
	tests := []struct {
		name string
		rec  journal.Record
		want steps.Event
	}{
		{name: "a passed check is the check the console saw",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "stop-apiservers", Node: "cp-1",
				Check: "no kube-apiserver process", State: "ok"},
			want: steps.CheckEvent{At: at, Step: steps.StopApiservers, Node: "cp-1", Check: "no kube-apiserver process", OK: true}},
		{name: "a failed check keeps its detail",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "start-apiservers", Node: "cp-2",
				Check: "kube-apiserver /readyz", State: "failed", Why: "connection refused"},
			want: steps.CheckEvent{At: at, Step: steps.StartApiservers, Node: "cp-2", Check: "kube-apiserver /readyz",
				Detail: "connection refused"}},
		{name: "an opened gate is the whole gate, commands and their purposes included",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: offer},
			want: steps.GateEvent{At: at, Gate: gate}},
		{name: "an opened gate whose offer cannot be read still shows its title",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: []byte(`"x"`)},
			want: steps.GateEvent{At: at, Gate: steps.Gate{Step: steps.StopApiservers, Title: gate.Title}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, ended := recordEvents(tc.rec)
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
			put(journal.Record{Run: run, Kind: journal.KindCheck, Step: string(steps.RestoreEtcd), Node: fmt.Sprintf("cp-%d", n%3+1),
				Check: "etcd healthy", State: "ok", Why: detail})
		}
		for _, s := range steps.Order {
			put(journal.Record{Run: run, Kind: journal.KindStep, Step: string(s), State: steps.Done.String(), Why: "post-condition verified"})
		}
		put(journal.Record{Run: run, Kind: journal.KindRunEnd, State: "done"})
	}
	live := "live-run"
	gate, _ := json.Marshal(steps.Gate{Step: steps.RestoreEtcd, Title: "Restore etcd", NeedsName: true})
	put(journal.Record{Run: live, Kind: journal.KindRunStart, Who: "ops@bastion"})
	put(journal.Record{Run: live, Kind: journal.KindStep, Step: string(steps.Preflight), State: steps.Done.String()})
	put(journal.Record{Run: live, Kind: journal.KindStep, Step: string(steps.StopApiservers), State: steps.Done.String()})
	put(journal.Record{Run: live, Kind: journal.KindGateOpen, Step: string(steps.RestoreEtcd), Why: "Restore etcd", Offer: gate})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return live
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
	w := newJournalWatch(path)
	var evs []steps.Event
	for range 100 { // each poll reads at most 4 MiB; stop once caught up
		got, ended, err := w.poll()
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
		case steps.StepEvent:
			if e.Step == steps.VerifyReport && e.State == steps.Done {
				t.Fatalf("watch showed an old run's VERIFY PASSED for the live run")
			}
		case steps.CheckEvent:
			t.Fatalf("watch showed an old run's check: %+v", e)
		case steps.GateEvent:
			sawGate = sawGate || e.Gate.Step == steps.RestoreEtcd
		}
	}
	if !sawGate {
		t.Errorf("watch never showed the live run waiting at the step-2 gate; events: %d", len(evs))
	}
}
