package steps

// CleanEvent is cleanEvent for clients that build events themselves
// (watch, from a journal an older version wrote).
func CleanEvent(ev Event) Event {
	if l, ok := ev.(LogEvent); ok {
		lines := make([]LogLine, len(l.Lines))
		for i, x := range l.Lines {
			x.Text = CleanLine(x.Text)
			lines[i] = x
		}
		l.Lines = lines
		return l
	}
	return cleanEvent(ev)
}

// cleanEvent cleans every text field of ev that can hold what a node
// printed or an error said. Log lines were cleaned by their stream's
// scrubber, which knows the lines before them.
func cleanEvent(ev Event) Event {
	switch e := ev.(type) {
	case StepEvent:
		e.Why = Clean(e.Why)
		return e
	case NodeEvent:
		e.Action, e.Err = Clean(e.Action), Clean(e.Err)
		return e
	case CheckEvent:
		e.Check, e.Detail = Clean(e.Check), Clean(e.Detail)
		return e
	case GateEvent:
		e.Gate = cleanGate(e.Gate)
		return e
	case JournalDamageEvent:
		e.Why = Clean(e.Why) // a decode error quotes the line's bytes
		return e
	}
	return ev
}

// cleanGate cleans a gate's text: its Why quotes a failure, its facts
// quote snapshot key names and node readings.
func cleanGate(g Gate) Gate {
	g.Title, g.Why, g.Failure = Clean(g.Title), Clean(g.Why), Clean(g.Failure)
	g.Facts = cleanAll(g.Facts)
	if g.Commands != nil {
		cmds := make([]NodeCommands, len(g.Commands))
		for i, nc := range g.Commands {
			nc.Commands, nc.What = cleanAll(nc.Commands), cleanAll(nc.What)
			cmds[i] = nc
		}
		g.Commands = cmds
	}
	if g.Diffs != nil { // scrubbed when made (filediff.go); cleaned again as every gate text is
		ds := make([]FileDiff, len(g.Diffs))
		for i, d := range g.Diffs {
			d.Unified, d.Unread = Clean(d.Unified), Clean(d.Unread)
			ds[i] = d
		}
		g.Diffs = ds
	}
	return g
}

func cleanAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Clean(s)
	}
	return out
}

// cleanError is an error whose text is cleaned, still unwrapping to the
// original for errors.Is and errors.As: the error Run returns is printed
// by every client (console, headless, cmd), and quotes nodes.
type cleanError struct{ err error }

func (e *cleanError) Error() string { return Clean(e.err.Error()) }
func (e *cleanError) Unwrap() error { return e.err }
