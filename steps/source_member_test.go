package steps

import (
	"slices"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

func TestSourceRankingPutsTheMostAdvancedMemberFirst(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []SourceMember
		want []string
	}{
		{"the highest consistent index wins, whatever the file order",
			[]SourceMember{{Node: "cp-1", ConsistentIndex: 90, Revision: 50}, {Node: "cp-2", ConsistentIndex: 120, Revision: 61}, {Node: "cp-3", ConsistentIndex: 100, Revision: 55}},
			[]string{"cp-2", "cp-3", "cp-1"}},
		{"equal indexes fall back to the revision",
			[]SourceMember{{Node: "cp-1", ConsistentIndex: 100, Revision: 50}, {Node: "cp-2", ConsistentIndex: 100, Revision: 52}},
			[]string{"cp-2", "cp-1"}},
		{"an unreadable member is never ranked above a readable one, and ties keep file order",
			[]SourceMember{{Node: "cp-1", Err: "no such file"}, {Node: "cp-2", ConsistentIndex: 7, Revision: 3}, {Node: "cp-3", Err: "refused"}, {Node: "cp-4", ConsistentIndex: 7, Revision: 3}},
			[]string{"cp-2", "cp-4", "cp-1", "cp-3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, m := range rankSourceMembers(tc.in) {
				got = append(got, m.Node)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ranking %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTheSourceGateOffersTheRankedMembersDefaultFirst(t *testing.T) {
	ranked := &Source{Chosen: "cp-2", Ranking: []SourceMember{{Node: "cp-2", ConsistentIndex: 9}, {Node: "cp-1", ConsistentIndex: 8}, {Node: "cp-3", Err: "gone"}}}
	for _, tc := range []struct {
		name, from string
		src        *Source
		want       []Choice
	}{
		{"best-member offers every readable member, the most advanced first", config.SnapshotFromBestMember, ranked,
			[]Choice{SourceChoiceOf("cp-2"), SourceChoiceOf("cp-1")}},
		{"a member named in the file is the only choice", "cp-2", ranked, []Choice{SourceChoiceOf("cp-2")}},
		{"a snapshot file offers no choice", "", ranked, nil},
		{"once step 2 took the db there is nothing left to pick", config.SnapshotFromBestMember,
			&Source{Chosen: "cp-2", Ranking: ranked.Ranking, Taken: &snapshot.DBInfo{}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Context{Cluster: &config.Cluster{Snapshot: config.Snapshot{From: tc.from}}, Values: Values{Source: tc.src}}
			if got := sourceChoices(c); !slices.Equal(got, tc.want) {
				t.Errorf("choices %v, want %v", got, tc.want)
			}
		})
	}
}
