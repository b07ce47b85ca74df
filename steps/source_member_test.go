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

// The pick at step 1's gate becomes the run's values (journaled with them,
// so a resume restores the member picked, not the default again): the
// snapshot the rest of the run reads is that member's db. A member whose db
// was not read cannot be picked, nor another once step 2 took the db.
func TestThePickedSourceBecomesTheRunsSnapshot(t *testing.T) {
	db := realSnapshot(t, "cp-1")
	snap, err := snapshot.Members(db)
	if err != nil {
		t.Fatal(err)
	}
	ranking := func() []SourceMember {
		return []SourceMember{{Node: "cp-2", ConsistentIndex: 9, Revision: 70, Size: 2 << 20, Local: db},
			{Node: "cp-1", ConsistentIndex: 8, Revision: 60, Size: 1 << 20, Local: db}, {Node: "cp-3", Err: "gone"}}
	}
	for _, tc := range []struct {
		name    string
		choice  Choice
		taken   bool
		want    string // the chosen node afterwards
		wantRev int64
		refused bool
	}{
		{"picking the second member makes its db the snapshot", SourceChoiceOf("cp-1"), false, "cp-1", 60, false},
		{"no choice sent keeps the default", "", false, "cp-2", 70, false},
		{"a member whose db was not read is refused", SourceChoiceOf("cp-3"), false, "cp-2", 70, true},
		{"once step 2 took the db, another member is refused", SourceChoiceOf("cp-1"), true, "cp-2", 70, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := &Source{Chosen: "cp-2", Ranking: ranking()}
			if tc.taken {
				src.Taken = &snapshot.DBInfo{}
			}
			c := &Context{Cluster: &config.Cluster{Snapshot: config.Snapshot{From: config.SnapshotFromBestMember}},
				Values: Values{Source: src, SnapshotRevision: 70, Members: []Member{{Node: "cp-1", Name: "cp-1", PeerURLs: snap[0].PeerURLs}}}}
			err := sourceChosen(c, tc.choice)
			if (err != nil) != tc.refused {
				t.Fatalf("sourceChosen(%q) = %v, refused want %v", tc.choice, err, tc.refused)
			}
			if c.Values.Source.Chosen != tc.want || c.Values.SnapshotRevision != tc.wantRev {
				t.Errorf("chosen %s at revision %d, want %s at %d", c.Values.Source.Chosen, c.Values.SnapshotRevision, tc.want, tc.wantRev)
			}
			if !tc.refused && (c.Values.SnapshotBastionCopy != db || !c.Values.Source.Picked) {
				t.Errorf("the picked db is not the run's snapshot: local %q picked %v", c.Values.SnapshotBastionCopy, c.Values.Source.Picked)
			}
		})
	}
}
