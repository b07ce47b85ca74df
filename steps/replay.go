package steps

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Journal → events: `etcd-dr watch` shows the operator's console from the
// journal and the transcript, as the events the engine sent. Resume (resume.go)
// and this replay start from the same scan for the last run (journal.LastRun).

// JournalFollower turns a growing journal and its run's transcript into the
// engine's events.
type JournalFollower struct {
	dir, path string
	jt, tt    *journal.Tail
	run       string
	started   bool // the scan found where the last run starts
	runbook   []RunbookStep
}

// NewJournalFollower follows the journal file at path from its last run.
func NewJournalFollower(path string) *JournalFollower {
	return &JournalFollower{dir: filepath.Dir(path), path: path}
}

// Follow sends events to ch until the run ends (then closes ch and returns
// nil), ctx ends (returns nil, ch left open) or the journal cannot be read.
func (f *JournalFollower) Follow(ctx context.Context, ch chan<- Event, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		evs, ended, err := f.Poll()
		for _, ev := range evs {
			select {
			case ch <- ev:
			case <-ctx.Done():
				return nil
			}
		}
		if ended || err != nil {
			close(ch)
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Poll reads what was appended since the last call: the transcript's lines
// first, so a node's command comes before the node's result.
func (f *JournalFollower) Poll() (evs []Event, ended bool, err error) {
	if !f.started {
		// Follow from the last run's start, however long the journal: an
		// old run's "VERIFY PASSED" must never stand for a live run.
		off, ok, err := journal.LastRunOffset(f.path)
		if err != nil || !ok {
			return nil, false, err
		}
		line, err := journal.LineAt(f.path, off)
		if err != nil {
			return nil, false, err
		}
		f.jt, f.started = journal.NewTailAtLine(f.path, off, line), true
	}
	recs, bad, err := f.jt.Checked()
	if err != nil {
		return nil, false, err
	}
	var out []Event
	if len(bad) > 0 {
		// Read-only, watch cannot refuse the journal as resume does; it
		// says what it could not read instead of showing less as the whole.
		d := JournalDamageEvent{At: time.Now(), Path: f.path, Why: bad[0].Why}
		for _, b := range bad {
			d.Lines = append(d.Lines, b.Line)
		}
		out = append(out, d)
	}
	for _, r := range recs {
		if r.Kind == journal.KindRunStart && r.Run != f.run {
			f.run, f.tt = r.Run, journal.NewTail(journal.TranscriptPath(f.dir, r.Run))
		}
		ev, end := f.recordEvents(r)
		out = append(out, ev...)
		ended = ended || end
	}
	if f.tt != nil {
		lines, terr := f.tt.Lines()
		if le := transcriptEvent(lines); le != nil {
			evs = append(evs, *le)
		}
		err = terr
	}
	return append(evs, out...), ended, err
}

// recordEvents is the events a journal record stands for. A journal written
// before gates were journaled when opened has none: after a step is done the
// next one is shown waiting at its gate, which a gate-open record then fills.
func (f *JournalFollower) recordEvents(r journal.Record) ([]Event, bool) {
	id := StepID(r.Step)
	switch r.Kind {
	case journal.KindRunStart:
		ev := RunbookEvent{At: r.At}
		if len(r.Runbook) == 0 || json.Unmarshal(r.Runbook, &ev) != nil || len(ev.Steps) == 0 {
			ev = Announce(RunbookRestore, Runbook(), r.At) // a journal from before runbooks were recorded
		}
		f.runbook = ev.Steps
		return []Event{ev}, false
	case journal.KindCheck:
		return []Event{CheckEvent{At: r.At, Step: id, Node: r.Node, Check: r.Check, OK: r.State == "ok", Detail: r.Why,
			Fact: Fact{Component: Component(r.Component), State: ComponentState(r.Proves)}}}, false
	case journal.KindGateOpen:
		return []Event{GateEvent{At: r.At, Gate: offeredGate(id, r)}}, false
	case journal.KindStep:
		st := stateNamed(r.State)
		evs := []Event{StepEvent{At: r.At, Step: id, State: st, Why: r.Why}}
		if next, ok := f.nextStep(id); ok && (st == Done || st == Skipped) {
			evs = append(evs, StepEvent{At: r.At, Step: next, State: WaitingGate, Why: "waiting for the operator at the gate"})
		}
		return evs, false
	case journal.KindNode:
		ne := NodeEvent{At: r.At, Step: id, Node: r.Node, State: Done}
		if r.State != "ok" {
			ne.State, ne.Err = Failed, r.Why
		}
		return []Event{ne}, false
	case journal.KindProgress:
		// The typed event the console saw (start, each quarter, end); a
		// journal from before progress was typed has only wording: none.
		var ev ProgressEvent
		if len(r.Progress) == 0 || json.Unmarshal(r.Progress, &ev) != nil {
			return nil, false
		}
		return []Event{ev}, false
	case journal.KindRunEnd:
		return nil, true
	}
	return nil, false
}

// offeredGate is the gate a gate-open record journaled. A journal written
// before gates carried their failure as a field titled a failure gate
// "<title>: FAILED" with the failure as its Why: read here, once, so no
// client reads wording.
func offeredGate(id StepID, r journal.Record) Gate {
	g := Gate{Step: id, Title: r.Why}
	if err := json.Unmarshal(r.Offer, &g); err != nil || g.Step != id {
		return Gate{Step: id, Title: r.Why} // the title alone still says where the run waits
	}
	if t, ok := strings.CutSuffix(g.Title, ": FAILED"); ok && g.Failure == "" {
		g.Title, g.Failure, g.Why = t, g.Why, ""
	}
	return g
}

func (f *JournalFollower) nextStep(id StepID) (StepID, bool) {
	for i, s := range f.runbook {
		if s.ID == id && i+1 < len(f.runbook) {
			return f.runbook[i+1].ID, true
		}
	}
	return "", false
}

func stateNamed(name string) State {
	for s := Pending; s <= Skipped; s++ {
		if s.String() == name {
			return s
		}
	}
	return Pending
}

// transcriptEvent turns transcript lines into one log event, each line with
// the kind its transcript mark says.
func transcriptEvent(lines []string) *LogEvent {
	var out []LogLine
	for _, s := range lines {
		l, ok := journal.ParseTranscriptLine(s)
		if !ok || l.Node == "-" {
			continue
		}
		nl := LogLine{Node: l.Node, Kind: LogStdout, At: l.At, Text: l.Text}
		switch l.Mark {
		case journal.MarkCommand:
			nl.Kind = LogCommand
		case journal.MarkStderr:
			nl.Kind = LogStderr
		case journal.MarkNote:
			nl.Kind = LogNote
		}
		out = append(out, nl)
	}
	if len(out) == 0 {
		return nil
	}
	return &LogEvent{At: out[len(out)-1].At, Lines: out}
}
