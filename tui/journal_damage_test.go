package tui

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps"
)

// watch shows, in its header, that the journal it follows has lines it could
// not read: the long form while it fits beside the RTO clock, the short one
// on a narrow screen, never nothing and never at the clock's cost.
func TestTheWatchViewSaysTheJournalIsIncomplete(t *testing.T) {
	for _, tc := range []struct {
		name  string
		width int
		lines []int
		want  string
	}{
		{"a wide terminal names the line", 160, []int{42}, "JOURNAL INCOMPLETE: line 42 not read"},
		{"several lines are counted", 160, []int{42, 57, 90}, "JOURNAL INCOMPLETE: line 42 and 2 more not read"},
		{"an 80-column terminal keeps the short form and the clock", 80, []int{42}, "JOURNAL INCOMPLETE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, Options{Cluster: testCluster(), Events: make(chan steps.Event), ReadOnly: true}, tc.width, 24, at(0))
			m = feed(t, m, steps.JournalDamageEvent{At: at(1), Path: "/state/c/journal.jsonl", Lines: tc.lines, Why: "not a journal record"})
			header := strings.SplitN(screen(m), "\n", 2)[0]
			if !strings.Contains(header, tc.want) {
				t.Errorf("header %q does not say %q", header, tc.want)
			}
			if !strings.Contains(header, "RTO") {
				t.Errorf("the RTO clock is gone from the header: %q", header)
			}
		})
	}
}
