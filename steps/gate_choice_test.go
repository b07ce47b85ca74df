package steps

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// A step's own gate may offer choices (the snapshot's source member): the
// default first, recorded by Chosen before Run, journaled with the gate; an
// unoffered choice keeps the gate shut; headless takes the default.
func TestAStepsOwnGateChoiceIsRecordedBeforeItRuns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		headless bool
		answers  []Choice // the client's answers at the choice gate, in turn
		want     Choice
	}{
		{"headless takes the default", true, nil, SourceChoiceOf("cp-2")},
		{"the operator's pick is recorded", false, []Choice{SourceChoiceOf("cp-1")}, SourceChoiceOf("cp-1")},
		{"a choice not offered keeps the gate shut until one is", false, []Choice{"source=w-9", SourceChoiceOf("cp-2")}, SourceChoiceOf("cp-2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.markReady(t)
			var chosen Choice
			offered := 0
			e := r.engine(t, func(o *Options) {
				o.Steps[1].Choices = func(*Context) []Choice { return []Choice{SourceChoiceOf("cp-2"), SourceChoiceOf("cp-1")} }
				o.Steps[1].Chosen = func(_ *Context, ch Choice) error { chosen = ch; return nil }
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out bytes.Buffer
			done := make(chan struct{})
			if tc.headless {
				go func() { defer close(done); Headless(e, r.cluster.Name, "ci@runner", &out) }()
			} else {
				c := drive(e, func(g Gate, _ int) Decision {
					d := Decision{Proceed: true, Typed: g.Cluster, By: "test@bastion"}
					if len(g.Choices) > 0 {
						if g.Default != g.Choices[0] {
							t.Errorf("default %q, want the first choice %q", g.Default, g.Choices[0])
						}
						d.Choice = tc.answers[min(offered, len(tc.answers)-1)]
						offered++
					}
					return d
				})
				go func() { defer close(done); c.wait(t) }()
			}
			if _, err := e.Run(ctx); err != nil {
				t.Fatalf("Run: %v\n%s", err, &out)
			}
			<-done
			if chosen != tc.want {
				t.Errorf("Chosen got %q, want %q", chosen, tc.want)
			}
			if !tc.headless && offered != len(tc.answers) {
				t.Errorf("the gate was answered %d times, want %d", offered, len(tc.answers))
			}
			var journaled Choice
			for _, rec := range r.records(t) {
				if rec.Gate != nil && rec.Step == "write" && rec.Gate.Proceed {
					journaled = Choice(rec.Gate.Choice)
				}
			}
			if journaled != tc.want {
				t.Errorf("journal records choice %q, want %q", journaled, tc.want)
			}
		})
	}
}
