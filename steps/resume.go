package steps

import (
	"encoding/json"
	"fmt"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// resumePoint is where an open run continues.
type resumePoint struct {
	open   bool
	values Values
	// next is the first step not done; reverify is the index of the last
	// done step, whose post-condition is checked again before next's gate
	// (the cluster may have moved while no one watched), or -1.
	next, reverify int
}

// replay reads the journal: the last run, if it has no run-end, is open.
func replay(recs []journal.Record, steps []Step) (resumePoint, error) {
	rp := resumePoint{reverify: -1}
	start := -1
	for i, r := range recs {
		if r.Kind == journal.KindRunStart {
			start = i
		}
	}
	if start < 0 {
		return rp, nil
	}
	run := recs[start].Run
	last := map[string]string{}
	for _, r := range recs[start:] {
		if r.Run != run {
			continue
		}
		switch r.Kind {
		case journal.KindRunEnd:
			return resumePoint{reverify: -1}, nil
		case journal.KindValues:
			var v Values
			if err := json.Unmarshal(r.Values, &v); err != nil {
				return rp, fmt.Errorf("journal: values of run %s do not decode: %w (start with a new run)", run, err)
			}
			rp.values = v
		case journal.KindStep:
			if r.Step != "" {
				last[r.Step] = r.State
			}
		}
	}
	if rp.values.Run == "" {
		// The run-start made it to disk, its values did not: nothing ran.
		return resumePoint{reverify: -1}, nil
	}
	rp.open = true
	for rp.next < len(steps) && last[string(steps[rp.next].ID)] == Done.String() {
		rp.next++
	}
	if rp.next > 0 {
		rp.reverify = rp.next - 1
	}
	return rp, nil
}
