package main

import (
	"strings"
	"testing"
	"time"
)

// faultRow is one row of `make faults`'s table. Each fault case fills it as
// it goes and logs it when it ends — also when it fails, with invariants
// "NO", so the table never shows a broken case as held.
type faultRow struct {
	Case, Injected, Saw, Detect string
	// Held is "yes" or "NO" once the case checked the lab's invariants;
	// until then the test's outcome stands for it.
	Held string
}

// held records the outcome of the case's invariant checks.
func (r *faultRow) held(ok bool) {
	if r.Held == "NO" {
		return // a retry's verify cannot undo the first run's broken invariant
	}
	r.Held = map[bool]string{true: "yes", false: "NO"}[ok]
}

// log writes the row as one FAULTROW line (tab-separated; the Makefile's
// faults target aligns them). Call it deferred.
func (r *faultRow) log(t *testing.T) {
	held := r.Held
	if held == "" {
		held = map[bool]string{true: "NO", false: "yes"}[t.Failed()]
	}
	clean := func(s string) string {
		s = strings.Join(strings.Fields(s), " ")
		if len(s) > 220 {
			s = s[:217] + "..."
		}
		if s == "" {
			s = "-"
		}
		return s
	}
	t.Logf("FAULTROW\t%s\t%s\t%s\t%s\t%s", clean(r.Case), clean(r.Injected), clean(r.Saw), held, clean(r.Detect))
}

// eventTime is the time of a headless event line ("15:04:05.000 ...", UTC
// time of day), on the day of ref: the printer shows no date.
func eventTime(line string, ref time.Time) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return time.Time{}, false
	}
	tod, err := time.Parse("15:04:05.000", f[0])
	if err != nil {
		return time.Time{}, false
	}
	ref = ref.UTC()
	at := time.Date(ref.Year(), ref.Month(), ref.Day(), tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), time.UTC)
	switch d := at.Sub(ref); { // the run crossed midnight
	case d < -12*time.Hour:
		at = at.Add(24 * time.Hour)
	case d > 12*time.Hour:
		at = at.Add(-24 * time.Hour)
	}
	return at, true
}

// stepStarted reports whether what the operator saw shows step running,
// as a step or on any node.
func stepStarted(saw, step string) (string, bool) {
	for _, l := range strings.Split(saw, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[1] == "step" && f[2] == step && f[3] == "running" {
			return l, true
		}
		if _, ok := nodeLine(l, step, "running"); ok {
			return l, true
		}
	}
	return "", false
}

// lineWith is the first line of s containing sub, trimmed, or "".
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// reason is what a failure line says, without its time stamp and event
// prefix: the text after "ERROR: " or "FAILED: ", else the line.
func reason(line string) string {
	for _, mark := range []string{"ERROR: ", "FAILED: "} {
		if _, after, ok := strings.Cut(line, mark); ok {
			return after
		}
	}
	return strings.TrimSpace(line)
}
