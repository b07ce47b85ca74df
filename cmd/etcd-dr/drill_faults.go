package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// faultSpec is one `--fault NAME[@STEP][@NODE]`: a registered lab fault,
// injected when STEP begins running (else once the lab is up), on NODE
// (else the fault's default node).
type faultSpec struct {
	Name string       `json:"name"`
	Step steps.StepID `json:"step,omitempty"`
	Node string       `json:"node,omitempty"`
}

func (f faultSpec) String() string {
	s := f.Name
	if f.Step != "" {
		s += "@" + string(f.Step)
	}
	if f.Node != "" {
		s += "@" + f.Node
	}
	return s
}

// parseFaults reads --fault values (each may list several, comma-separated).
func parseFaults(values []string) ([]faultSpec, error) {
	var out []faultSpec
	for _, v := range values {
		for _, one := range strings.Split(v, ",") {
			one = strings.TrimSpace(one)
			if one == "" {
				continue
			}
			parts := strings.Split(one, "@")
			f := faultSpec{Name: parts[0]}
			if _, ok := lab.FaultByName(f.Name); !ok {
				return nil, usageErr("--fault %s: no such fault (etcd-dr drill --fault list)", one)
			}
			for _, p := range parts[1:] {
				switch {
				case isStepID(p) && f.Step == "":
					f.Step = steps.StepID(p)
				case !isStepID(p) && f.Node == "" && p != "":
					f.Node = p
				default:
					return nil, usageErr("--fault %s: want NAME[@STEP][@NODE], STEP one of %s", one, stepList())
				}
			}
			out = append(out, f)
		}
	}
	return out, nil
}

func isStepID(s string) bool {
	for _, st := range steps.Runbook() {
		if string(st.ID) == s {
			return true
		}
	}
	return false
}

func stepList() string {
	var s []string
	for _, st := range steps.Runbook() {
		s = append(s, string(st.ID))
	}
	return strings.Join(s, ", ")
}

// writeFaultList is `--fault list`: one line per fault.
func writeFaultList(w io.Writer) {
	for _, f := range lab.Faults() {
		if f.Node == "" {
			fmt.Fprintf(w, "%-26s %s (cluster-wide)\n", f.Name, f.Help)
			continue
		}
		fmt.Fprintf(w, "%-26s %s (default node %s)\n", f.Name, f.Help, f.Node)
	}
	fmt.Fprintf(w, "\nuse: --fault NAME[@STEP][@NODE][,...]; STEP is one of %s (injected when it begins running)\n", stepList())
}

// faultRecord is what the scorecard says about one injected fault.
type faultRecord struct {
	Fault   string `json:"fault"`
	Step    string `json:"step,omitempty"`
	Node    string `json:"node"`
	Failed  string `json:"failed,omitempty"`  // the error the step failed with while the fault held
	Lifted  bool   `json:"lifted,omitempty"`  // the lab lifted it after that failure
	Retried int    `json:"retried,omitempty"` // attempts after the first
	Passed  bool   `json:"passed"`            // the step finished after all
}

func (r faultRecord) line() string {
	where := r.Node
	if where == "" {
		where = "the cluster"
	}
	s := fmt.Sprintf("fault %s on %s", r.Fault, where)
	if r.Step != "" {
		s += " at " + r.Step
	}
	switch {
	case r.Failed == "" && r.Passed:
		s += ": the step passed despite it"
	case r.Failed != "":
		s += ": the step failed"
		if r.Lifted {
			s += ", fault lifted"
		}
		if r.Retried > 0 {
			s += fmt.Sprintf(", retried %d×", r.Retried)
		}
		if r.Passed {
			s += ", passed"
		}
	}
	return s
}

// detail is the error the step failed with while the fault held.
func (r faultRecord) detail() string { return clipLine(r.Failed, 160) }

func clipLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// drillFaults injects the faults of a drill and records how each went.
type drillFaults struct {
	dir   string
	specs []faultSpec
	mu    sync.Mutex
	recs  []*faultRecord
}

// injectNow injects the faults not scoped to a step (after lab up).
func (d *drillFaults) injectNow(ctx context.Context) error {
	for _, f := range d.specs {
		if f.Step != "" {
			continue
		}
		if err := d.inject(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (d *drillFaults) inject(ctx context.Context, f faultSpec) error {
	def, _ := lab.FaultByName(f.Name)
	node := f.Node
	if node == "" {
		node = def.Node
	}
	if err := lab.InjectFault(ctx, d.dir, f.Name, node); err != nil {
		return failErr(err)
	}
	d.mu.Lock()
	d.recs = append(d.recs, &faultRecord{Fault: f.Name, Step: string(f.Step), Node: node})
	d.mu.Unlock()
	return nil
}

// wrap scopes step-bound faults to their step: injected when its first
// attempt begins, lifted (where possible) once it fails, so the operator's
// retry meets a repaired node, as after fixing a real one.
func (d *drillFaults) wrap(runbook []steps.Step) []steps.Step {
	for i := range runbook {
		s := &runbook[i]
		var mine []faultSpec
		for _, f := range d.specs {
			if f.Step == s.ID {
				mine = append(mine, f)
			}
		}
		if len(mine) == 0 {
			continue
		}
		run, plan, verify := s.Run, s.Plan, s.Verify
		attempts := 0
		var first []*faultRecord
		s.Run = func(ctx context.Context, c *steps.Context) error {
			attempts++
			if attempts == 1 {
				for _, f := range mine {
					if err := d.inject(ctx, f); err != nil {
						return err
					}
					d.mu.Lock()
					first = append(first, d.recs[len(d.recs)-1])
					d.mu.Unlock()
				}
			} else {
				d.note(first, func(r *faultRecord) { r.Retried = attempts - 1 })
			}
			var err error
			switch {
			case run != nil:
				err = run(ctx, c)
			case plan != nil:
				var actions []steps.Action
				if actions, err = plan(c); err == nil {
					err = c.RunActions(ctx, actions)
				}
			}
			if err != nil {
				d.failed(ctx, first, err)
			}
			return err
		}
		s.Verify = func(ctx context.Context, c *steps.Context) error {
			var err error
			if verify != nil {
				err = verify(ctx, c)
			}
			if err != nil {
				d.failed(ctx, first, err)
				return err
			}
			d.note(first, func(r *faultRecord) { r.Passed = true })
			return nil
		}
	}
	return runbook
}

func (d *drillFaults) note(recs []*faultRecord, fn func(*faultRecord)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range recs {
		fn(r)
	}
}

// failed records the failure the fault caused and lifts the fault once.
func (d *drillFaults) failed(ctx context.Context, recs []*faultRecord, err error) {
	for _, r := range recs {
		d.mu.Lock()
		lift := r.Failed == ""
		if lift {
			r.Failed = err.Error()
		}
		d.mu.Unlock()
		if lift && lab.LiftFault(ctx, d.dir, r.Fault, r.Node) == nil {
			d.note([]*faultRecord{r}, func(r *faultRecord) { r.Lifted = true })
		}
	}
}

// records returns copies of the records, for the scorecard.
func (d *drillFaults) records() []faultRecord {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]faultRecord, 0, len(d.recs))
	for _, r := range d.recs {
		rr := *r
		if rr.Step == "" && rr.Failed == "" {
			rr.Passed = true // a whole-drill fault: the drill reached its verify step
		}
		out = append(out, rr)
	}
	return out
}
