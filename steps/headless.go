package steps

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Headless is the client for `etcd-dr run --headless --confirm NAME`: it
// prints every event as a line and answers each gate with confirm as the
// typed name. A failure gate is answered by backing out: with no operator
// to judge a failed post-condition, stopping (resumable) is the only safe
// choice. It returns when the engine's event stream closes.
func Headless(e *Engine, confirm, who string, w io.Writer) {
	headless(e, confirm, who, &headlessOverrides{}, w)
}

func headless(e *Engine, confirm, who string, ov *headlessOverrides, w io.Writer) {
	printed := map[string]time.Time{} // progress: last line per node and work
	for ev := range e.Events() {
		if p, ok := ev.(ProgressEvent); ok && !progressDue(p, printed) {
			continue
		}
		fmt.Fprintln(w, FormatEvent(ev))
		g, ok := ev.(GateEvent)
		if !ok {
			continue
		}
		// A step's own choice (the snapshot's source) is answered with
		// its default, which the gate's facts explain; only a failure's
		// choices are left to an operator.
		pick := g.Gate.Failure == "" && g.Gate.Default != ""
		if c, check, ok := ov.choose(g.Gate); ok { // override_headless.go
			decideOverride(e, g, c, check, confirm, who, w)
			continue
		}
		if len(g.Gate.Choices) > 0 && !pick {
			why := fmt.Sprintf("%s failed: %s; a headless run does not choose between %s, so it stopped there",
				g.Gate.Step, g.Gate.Failure, joinChoices(g.Gate.Choices))
			fmt.Fprintf(w, "%s headless: %s; backing out (the run stays open: resume with the console, which offers %s)\n",
				stamp(g.At), why, joinChoices(g.Gate.Choices))
			e.Decide(Decision{Proceed: false, By: who, Why: why})
			continue
		}
		if g.Gate.NeedsName && confirm != g.Gate.Cluster {
			// Retyping the same wrong name would keep the gate shut forever.
			why := fmt.Sprintf("--confirm %q does not match the cluster name %q", confirm, g.Gate.Cluster)
			fmt.Fprintf(w, "%s headless: %s; backing out\n", stamp(g.At), why)
			e.Decide(Decision{Proceed: false, By: who, Why: why})
			continue
		}
		d := Decision{Proceed: true, Typed: confirm, By: who}
		if pick {
			fmt.Fprintf(w, "%s headless: choosing %s, the default\n", stamp(g.At), g.Gate.Default)
			d.Choice = g.Gate.Default
		}
		e.Decide(d)
	}
}

// FormatEvent renders one event as a log line (headless mode, watch). Its
// text is cleaned again: watch builds events from a journal that an older
// version may have written raw.
func FormatEvent(ev Event) string {
	switch ev := CleanEvent(ev).(type) {
	case StepEvent:
		return fmt.Sprintf("%s step %-18s %-16s %s", stamp(ev.At), ev.Step, ev.State, ev.Why)
	case NodeEvent:
		s := fmt.Sprintf("%s node %-8s %-18s %-10s %s", stamp(ev.At), ev.Node, ev.Step, ev.State, ev.Action)
		if ev.Err != "" {
			s += " ERROR: " + ev.Err
		}
		return s
	case CheckEvent:
		mark := "ok  "
		if !ev.OK {
			mark = "FAIL"
		}
		node := ev.Node
		if node == "" {
			node = "cluster"
		}
		return fmt.Sprintf("%s check %s %-8s %s %s", stamp(ev.At), mark, node, ev.Check, ev.Detail)
	case LogEvent:
		var b strings.Builder
		for i, l := range ev.Lines {
			if i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "%s %s %s| %s", stamp(l.At), l.Node, l.Kind, l.Text)
		}
		return b.String()
	case ProgressEvent:
		s := fmt.Sprintf("%s progress %-8s %s: %s", stamp(ev.At), ev.Node, ev.Work, ProgressFigures(ev))
		switch {
		case ev.End && ev.Err != "":
			s += " FAILED: " + ev.Err
		case ev.End:
			s += " done"
		}
		return s
	case RunbookEvent:
		var b strings.Builder
		fmt.Fprintf(&b, "%s runbook %s:", stamp(ev.At), ev.Name)
		for _, st := range ev.Steps {
			fmt.Fprintf(&b, " %s", st.ID)
		}
		return b.String()
	case GateEvent:
		g := ev.Gate
		s := fmt.Sprintf("%s gate %s: %s", stamp(ev.At), g.Step, g.Title)
		if g.Failure != "" {
			s += "\n    failed: " + g.Failure
		}
		for _, f := range g.Facts {
			s += "\n    • " + f
		}
		return s + diffLines(g.Diffs)
	case JournalDamageEvent:
		return fmt.Sprintf("%s journal %s: %s (lines %v not read: this view is missing what they said)",
			stamp(ev.At), ev.Path, ev.Why, ev.Lines)
	}
	return fmt.Sprintf("%s %T", stamp(ev.Time()), ev) // an event newer than this printer
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// headlessProgressEvery is how often a headless run prints a piece of
// work's progress between its start and end lines: a log of a 1 GiB copy
// stays a few lines long.
const headlessProgressEvery = 5 * time.Second

// progressDue reports whether p is worth a line: its start, its end, or
// headlessProgressEvery after the last line for the same work.
func progressDue(p ProgressEvent, printed map[string]time.Time) bool {
	k := p.Node + "\x00" + p.Work
	if p.End {
		delete(printed, k)
		return true
	}
	if last, ok := printed[k]; ok && p.At.Sub(last) < headlessProgressEvery {
		return false
	}
	printed[k] = p.At
	return true
}
