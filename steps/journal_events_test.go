package steps

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// `etcd-dr watch` has only the journal: every check the console saw and
// every gate put in front of the operator must be in it, in order, with the
// gate's commands and their purposes.
func TestTheJournalHoldsEveryCheckAndEveryGateOpened(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	var checks, opened []journal.Record
	for _, rec := range r.records(t) {
		switch rec.Kind {
		case journal.KindCheck:
			checks = append(checks, rec)
		case journal.KindGateOpen:
			opened = append(opened, rec)
		}
	}
	if n := len(r.cluster.Nodes); len(checks) != n {
		t.Fatalf("journal holds %d checks, want %d (token written on each node): %+v", len(checks), n, checks)
	}
	for _, ch := range checks {
		if ch.Step != "write" || ch.Check != "token written" || ch.State != "ok" || ch.Node == "" {
			t.Errorf("check record %+v, want step write, check \"token written\", state ok, a node", ch)
		}
	}
	if len(opened) != len(c.gates) {
		t.Fatalf("journal holds %d gates opened, the client saw %d", len(opened), len(c.gates))
	}
	for i, rec := range opened {
		var g Gate
		if err := json.Unmarshal(rec.Offer, &g); err != nil {
			t.Fatalf("gate-open record %d does not hold a gate: %v", i, err)
		}
		if g.Step != c.gates[i].Step || g.Title != rec.Why || len(g.Commands) != len(c.gates[i].Commands) {
			t.Errorf("gate %d journaled as %+v, the client saw %+v", i, g, c.gates[i])
		}
	}
	w := opened[1]
	var g Gate
	_ = json.Unmarshal(w.Offer, &g)
	if len(g.Commands) == 0 || len(g.Commands[0].What) != 1 || g.Commands[0].What[0] != "write token" {
		t.Errorf("the write gate's commands lost their purpose: %+v", g.Commands)
	}
}
