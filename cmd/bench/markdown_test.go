package main

import "testing"

func TestMarkdownRowsShowGoalsPeersAndNotesAsMeasured(t *testing.T) {
	for _, tc := range []struct {
		name string
		row  Row
		want string
	}{
		{"a met goal says yes",
			Row{Name: "w", Value: 2.5, Unit: "s", Goal: "< 10 s", Met: true, Measured: true},
			"| w | 2.50 s |  |  | < 10 s | yes |  |"},
		{"an unmet goal says no in bold, with the peer and the ratio",
			Row{Name: "r", Value: 300, Unit: "hosts/s", Peer: "parallel-ssh", PeerValue: 150, Ratio: 2, Goal: "≥ 5×", Note: "n"},
			"| r | 300 hosts/s | 150 hosts/s (parallel-ssh) | 2.00× | ≥ 5× | **no** | n |"},
		{"a row without a goal leaves met empty",
			Row{Name: "c", Value: 0.5, Unit: "ms", Peer: "ansible", PeerValue: 40, Ratio: 0.0125},
			"| c | 0.500 ms | 40.00 ms (ansible) | 0.01× |  |  |  |"},
		{"a quick row never says yes, whatever its ratio",
			Row{Name: "q", Value: 1.1, Unit: "s", Peer: "bare", PeerValue: 1, Ratio: 1.1, Goal: "≤ 1.15×", Quick: true, Note: "quick size: within the goal at this size"},
			"| q | 1.10 s | 1.00 s (bare) | 1.10× | ≤ 1.15× | quick size | quick size: within the goal at this size |"},
		{"a peer that measured nothing shows no figure and no ratio",
			Row{Name: "p", Value: 1, Unit: "s", Peer: "ansible", Goal: "≥ 20×", Note: "ansible is not installed"},
			"| p | 1.00 s |  |  | ≥ 20× | **no** | ansible is not installed |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := markdownRow(tc.row); got != tc.want {
				t.Errorf("markdownRow:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMarkQuickNeverLetsAQuickRowMeetAGoal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		row      Row
		wantNote string
	}{
		{"a row within its goal at the quick size says so, unmet",
			Row{Name: "a", Goal: "≤ 1.15×", Met: true, Note: "n"}, "n; quick size: within the goal at this size, not measured at full size"},
		{"a row outside its goal says so",
			Row{Name: "b", Goal: "≤ 1.15×"}, "quick size: outside the goal at this size, not measured at full size"},
		{"a row without a goal is only marked quick",
			Row{Name: "c", Met: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := []Row{tc.row}
			markQuick(rows)
			if r := rows[0]; !r.Quick || r.Met || r.Note != tc.wantNote {
				t.Errorf("markQuick: quick %v met %v note %q; want quick, unmet, note %q", r.Quick, r.Met, r.Note, tc.wantNote)
			}
		})
	}
}
