package snapshot

import (
	"reflect"
	"testing"
)

// The merger sees the live keys a page at a time; the result is Compare's,
// and a listing out of key order is refused rather than diffed wrong.
func TestMergerDiffsLiveKeysStreamedInPagesAndRefusesThemOutOfOrder(t *testing.T) {
	snap := []KeyRev{{"/a", 1, 1}, {"/b", 2, 2}, {"/d", 3, 3}, {"/f", 4, 4}}
	pages := [][]KeyRev{{{"/b", 2, 9}, {"/c", 10, 10}}, {}, {{"/d", 3, 3}, {"/e", 11, 11}}}
	m := NewMerger(snap)
	for _, p := range pages {
		for _, k := range p {
			if err := m.Live(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := m.Diff(4, 11)
	var live []KeyRev
	for _, p := range pages {
		live = append(live, p...)
	}
	want := Compare(Keyspace{Revision: 4, Keys: snap}, Keyspace{Revision: 11, Keys: live})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("streamed diff = %+v\nwhole-list diff = %+v", got, want)
	}
	if k := Keys(got.BroughtBack); !reflect.DeepEqual(k, []string{"/a", "/f"}) {
		t.Errorf("brought back %q, want /a and /f", k)
	}
	if m.Seen() != 4 {
		t.Errorf("seen %d live keys, want 4", m.Seen())
	}
	if err := m.Live(KeyRev{Key: "/c"}); err == nil {
		t.Error("a key before the last one was taken without complaint")
	}
}
