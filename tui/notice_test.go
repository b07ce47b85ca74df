package tui

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps"
)

// The not-in-tmux notice stays in the header while it fits beside the RTO
// clock; on a narrow screen it gives way, and the clock never does.
func TestTheSessionNoticeShowsWhereItFitsAndNeverHidesTheClock(t *testing.T) {
	const notice = "not in tmux/screen: a dropped SSH session stops this console"
	for _, tc := range []struct {
		name  string
		width int
		shown bool
	}{
		{"a wide terminal shows it", 160, true},
		{"an 80-column terminal keeps the clock instead", 80, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, Options{Cluster: testCluster(), Events: make(chan steps.Event), Notice: notice}, tc.width, 24, at(0))
			header := strings.SplitN(screen(m), "\n", 2)[0]
			if got := strings.Contains(header, notice); got != tc.shown {
				t.Errorf("notice shown = %v, want %v: %q", got, tc.shown, header)
			}
			if !strings.Contains(header, "RTO") {
				t.Errorf("the RTO clock is gone from the header: %q", header)
			}
		})
	}
}
