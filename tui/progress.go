package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/event"
)

// workLines shows a step's long work under way, one line each, the
// figures before the words so a narrow pane keeps them: a copy's bar, bytes and rate; a wait's time against its deadline.
// Read from the events' typed fields only.
// At most limit lines are drawn.
func workLines(st styles, s *stepInfo, now time.Time, width, limit int) []string {
	keys := make([]string, 0, len(s.Work))
	for k := range s.Work {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys[:min(len(keys), limit)] {
		e := s.Work[k]
		who := e.Node
		if who != "" {
			who += ": "
		}
		line := "    ⧗ " + who + workFigures(e, now) + " · " + e.Work
		out = append(out, st.warn.Render(truncate(line, width)))
	}
	return out
}

// workFigures: "[████░░░░░░] 312 MiB of 1.0 GiB at 42 MiB/s", or for a
// wait "0:42 of 12:10".
func workFigures(e event.ProgressEvent, now time.Time) string {
	if now.IsZero() || now.Before(e.At) {
		now = e.At
	}
	if e.Kind == event.ProgressWait {
		s := clock(now.Sub(e.Started))
		if !e.Deadline.IsZero() {
			s += " of " + clock(e.Deadline.Sub(e.Started))
		}
		return s
	}
	var b strings.Builder
	if e.Total > 0 {
		const w = 10
		filled := int(min(e.Done, e.Total) * w / e.Total)
		b.WriteString("[" + strings.Repeat("█", filled) + strings.Repeat("░", w-filled) + "] ")
		fmt.Fprintf(&b, "%s of %s", event.Bytes(e.Done), event.Bytes(e.Total))
	} else {
		b.WriteString(event.Bytes(e.Done))
	}
	if e.Rate > 0 {
		b.WriteString(" at " + event.Bytes(int64(e.Rate)) + "/s")
	}
	return b.String()
}
