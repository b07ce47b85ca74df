package steps

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// The scorecard's RTO is how long the cluster was down: the first
// destructive step started → verify passed; the time the operator spent at
// gates is said apart, as typed fields (within that RTO, and over the
// whole run). A journal with known times: preflight's gate 60 s, the step-1
// gate 120 s (the cluster still up), the step-2 gate 30 s and the verify
// gate 10 s (down), verify passing at 400 s, run-end and lock records later.
func TestTheScorecardSaysDownTimeAndGateTimeApart(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []Step{{ID: Preflight}, {ID: StopApiservers, Destructive: true}, {ID: RestoreEtcd, Destructive: true}, {ID: VerifyReport}}
	rec := func(s int, kind string, step StepID, state string) journal.Record {
		return journal.Record{At: at(s), Run: "r1", Kind: kind, Step: string(step), State: state}
	}
	full := []journal.Record{
		{At: at(0), Run: "r1", Kind: journal.KindRunStart},
		rec(0, journal.KindGateOpen, Preflight, ""), rec(60, journal.KindGate, Preflight, "proceed"),
		rec(60, journal.KindStep, Preflight, "running"), rec(90, journal.KindStep, Preflight, "done"),
		rec(90, journal.KindGateOpen, StopApiservers, ""), rec(210, journal.KindGate, StopApiservers, "proceed"),
		rec(210, journal.KindStep, StopApiservers, "running"), rec(250, journal.KindStep, StopApiservers, "done"),
		rec(250, journal.KindGateOpen, RestoreEtcd, ""), rec(280, journal.KindGate, RestoreEtcd, "proceed"),
		rec(280, journal.KindStep, RestoreEtcd, "running"), rec(350, journal.KindStep, RestoreEtcd, "done"),
		rec(350, journal.KindGateOpen, VerifyReport, ""), rec(360, journal.KindGate, VerifyReport, "proceed"),
		rec(360, journal.KindStep, VerifyReport, "running"), rec(400, journal.KindStep, VerifyReport, "done"),
		rec(430, journal.KindLock, "", "released"), rec(460, journal.KindRunEnd, "", "done"),
	}
	for _, tc := range []struct {
		name                   string
		recs                   []journal.Record
		rto, whileDown, atGate time.Duration
		ended                  bool
	}{
		{"a finished run: down from step 1 to verify passed, gates apart", full, 190 * time.Second, 40 * time.Second, 220 * time.Second, true},
		{"a run backed out at the step-2 gate after 90 s: down all along, the open gate counted",
			append(full[:10:10], rec(340, journal.KindRunEnd, "", "aborted")), 130 * time.Second, 90 * time.Second, 270 * time.Second, false},
		{"a run that never changed anything was never down", full[:5], 0, 0, 60 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := journal.Open(t.TempDir(), "c")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			for _, r := range tc.recs {
				if err := j.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			e := &Engine{opts: Options{Journal: j, Cluster: &config.Cluster{Name: "c"}}, steps: steps,
				cx: &Context{Cluster: &config.Cluster{Name: "c"}, Values: Values{Run: "r1"}}}
			sc := e.Scorecard()
			if time.Duration(sc.RTO) != tc.rto || time.Duration(sc.AtGatesWhileDown) != tc.whileDown ||
				time.Duration(sc.AtGates) != tc.atGate || sc.RTOEnded != tc.ended {
				t.Errorf("RTO %v (at gates %v, ended %v), at gates over the run %v; want %v (%v, %v), %v",
					sc.RTO, sc.AtGatesWhileDown, sc.RTOEnded, sc.AtGates, tc.rto, tc.whileDown, tc.ended, tc.atGate)
			}
			b, err := json.Marshal(sc) // -o json
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{`"rto":"` + tc.rto.String() + `"`, `"atGatesWhileDown":"` + tc.whileDown.String() + `"`,
				`"atGates":"` + tc.atGate.String() + `"`} {
				if !strings.Contains(string(b), key) {
					t.Errorf("-o json lacks %s: %s", key, b)
				}
			}
			if text := sc.Text(); !strings.Contains(text, "of which at gates "+tc.whileDown.String()) {
				t.Errorf("headless scorecard does not say the time at gates:\n%s", text)
			}
		})
	}
}
