package steps

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

func TestRollbackPlanPointsEveryMemberBackAtItsOldDataDir(t *testing.T) {
	cl := scenarioCluster("moved")
	got, err := PlanTextOf(cl, afterPreflight(t, "moved", cl), RollbackRunbook())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"etcd-a (cp-1): back to /data/etcd", "test -d /data/etcd/member",
		`type the cluster name "prod-eu1"`, "stays on disk"} {
		if !strings.Contains(got, want) {
			t.Errorf("rollback plan lacks %q", want)
		}
	}
	golden(t, filepath.Join("testdata", "plans", "moved-rollback.golden"), got)
}

func TestRollbackInheritsTheLastRunsMembersAndAbandonsAnOpenRun(t *testing.T) {
	r := newRig(t)
	// An open restore run that read the members, then backed out.
	read := Step{ID: "read", Title: "read the members", Run: func(ctx context.Context, c *Context) error {
		c.Values.Members = []Member{{Node: "cp-1", Name: "etcd-a", DataDir: "/data/etcd"}}
		return c.SaveValues()
	}}
	e := r.engine(t, func(o *Options) { o.Steps = []Step{read, {ID: "later", Title: "later"}} })
	c := drive(e, func(g Gate, n int) Decision { return Decision{Proceed: g.Step == "read"} })
	if _, err := e.Run(context.Background()); !errors.Is(err, ErrAborted) {
		t.Fatalf("restore run = %v, want it backed out at the second gate", err)
	}
	c.wait(t)
	j, err := journal.Open(r.state, r.cluster.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	recs, _ := j.Records()
	v, err := inheritValues(recs)
	if err != nil || len(v.Members) != 1 || v.Members[0].DataDir != "/data/etcd" {
		t.Fatalf("inheritValues = %+v, %v", v.Members, err)
	}

	rb := r.engine(t, func(o *Options) { o.Inherit = true; o.Steps = []Step{{ID: "noop", Title: "noop"}} })
	c2 := drive(rb, yes)
	if _, err := rb.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2.wait(t)
	abandoned := false
	for _, rec := range r.records(t) {
		abandoned = abandoned || rec.Kind == journal.KindRunEnd && rec.State == "abandoned" && rec.Run == e.Values().Run
	}
	if !abandoned {
		t.Error("the open restore run was not journaled as abandoned")
	}
	if rb.Values().Run == e.Values().Run || len(rb.Values().Members) != 1 {
		t.Errorf("rollback run %s members %v; want a new run with the inherited members", rb.Values().Run, rb.Values().Members)
	}
}

func TestRollbackWithNothingInTheJournalIsRefused(t *testing.T) {
	r := newRig(t)
	e := r.engine(t, func(o *Options) { o.Inherit = true })
	c := drive(e, yes)
	_, err := e.Run(context.Background())
	c.wait(t)
	if !errors.Is(err, errNothingToRollBack) {
		t.Errorf("Run = %v, want errNothingToRollBack", err)
	}
}
