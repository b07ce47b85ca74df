package steps

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// watch is read-only, so it cannot refuse a damaged journal as resume does;
// a line of the live run that is not a record must still be said (a typed
// event naming the line as an editor shows it), never skipped as though the
// journal were whole. A record torn by a crash and ended by the next open
// is no damage: the action it announced never started.
func TestWatchSaysWhichJournalLinesItCouldNotRead(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	rec := func(r journal.Record) string {
		r.At = at
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gate, _ := json.Marshal(Gate{Step: RestoreEtcd, Title: "Restore etcd", NeedsName: true})
	old := []string{rec(journal.Record{Run: "old", Kind: journal.KindRunStart}), rec(journal.Record{Run: "old", Kind: journal.KindRunEnd, State: "done"})}
	live := func(middle string) []string {
		return []string{
			rec(journal.Record{Run: "live", Kind: journal.KindRunStart}),
			rec(journal.Record{Run: "live", Kind: journal.KindStep, Step: string(Preflight), State: Done.String()}),
			middle,
			rec(journal.Record{Run: "live", Kind: journal.KindStep, Step: string(StopApiservers), State: Done.String()}),
			rec(journal.Record{Run: "live", Kind: journal.KindGateOpen, Step: string(RestoreEtcd), Why: "Restore etcd", Offer: gate}),
		}
	}
	for _, tc := range []struct {
		name   string
		middle string
		holes  []int
	}{
		{"a garbage line in the live run is named by its line number", "garbage \x1b[2J not a record", []int{5}},
		{"a record with text after it is named too", rec(journal.Record{Run: "live", Kind: journal.KindLock, State: "taken"}) + ` {"x":1}`, []int{5}},
		{"a record torn by a crash is no hole", `{"at":"2026-03-14T03:00:00Z","run":"live","kind":"st`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			lines := append(slices.Clone(old), live(tc.middle)...)
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			evs, _, err := NewJournalFollower(path).Poll()
			if err != nil {
				t.Fatal(err)
			}
			var holes []int
			sawGate := false
			for _, ev := range evs {
				switch e := ev.(type) {
				case JournalDamageEvent:
					holes = append(holes, e.Lines...)
					if e.Path != path || e.Why == "" {
						t.Errorf("damage event %+v names no path or reason", e)
					}
					if strings.Contains(FormatEvent(e), "\x1b") {
						t.Errorf("the line's escape reached the printed event: %q", FormatEvent(e))
					}
				case GateEvent:
					sawGate = sawGate || e.Gate.Step == RestoreEtcd
				}
			}
			if !slices.Equal(holes, tc.holes) {
				t.Errorf("watch reported lines %v as unread, want %v", holes, tc.holes)
			}
			if !sawGate {
				t.Errorf("the records after the line were not shown (no step-2 gate)")
			}
		})
	}
}
