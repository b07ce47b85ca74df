package steps

import (
	"encoding/json"
	"errors"
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

// JournalUnreadableError refuses to resume from a journal with lines that
// are not records: one of them may say a step is done, or a value decided.
type JournalUnreadableError struct {
	Err *journal.CorruptError
}

func (e *JournalUnreadableError) Error() string {
	return fmt.Sprintf("%v. etcd-dr does not resume a run from a journal it cannot read whole: a line it cannot "+
		"read may record a step already done. Look at those lines (a hand edit, a disk fault); to start a new "+
		"run instead, run the same command with --new-run: the journal is kept as journal-<time>.jsonl beside it "+
		"and a new one begun", e.Err)
}

func (e *JournalUnreadableError) Unwrap() error { return e.Err }

// lastRun reads the journal's last run for replay. A journal that cannot
// be read whole is refused, unless a new run was asked for: then it is set
// aside, kept, and the run starts on an empty journal.
func (e *Engine) lastRun() ([]journal.Record, error) {
	recs, err := e.opts.Journal.LastRun()
	var ce *journal.CorruptError
	if !errors.As(err, &ce) {
		return recs, err
	}
	if !e.opts.NewRun || e.opts.Inherit {
		return nil, &JournalUnreadableError{Err: ce}
	}
	kept, serr := e.opts.Journal.SetAside(e.now())
	if serr != nil {
		return nil, fmt.Errorf("%w; setting it aside for a new run: %w", &JournalUnreadableError{Err: ce}, serr)
	}
	return nil, e.opts.Journal.Append(journal.Record{At: e.now(), Kind: journal.KindStep, Who: e.opts.Who,
		State: "set-aside", Why: fmt.Sprintf("the journal could not be read whole (%v); kept as %s", ce, kept)})
}

// inherit reads the values a rollback starts from; the whole journal must
// read: a line it cannot read may be the latest values.
func (e *Engine) inherit() (Values, error) {
	recs, err := journal.ReadFile(e.opts.Journal.Path())
	var ce *journal.CorruptError
	if errors.As(err, &ce) {
		return Values{}, &JournalUnreadableError{Err: ce}
	}
	if err != nil {
		return Values{}, err
	}
	return inheritValues(recs)
}
