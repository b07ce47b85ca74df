package steps

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// realSnapshot starts a one-member etcd named name, saves a snapshot of it
// as etcd-dr does, stops it, and returns the snapshot's path.
func realSnapshot(t *testing.T, name string) string {
	t.Helper()
	client, stop := startEtcdMember(t, name)
	defer stop()
	out := filepath.Join(t.TempDir(), "snap.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := snapshot.Save(ctx, clientv3.Config{Logger: zap.NewNop()}, client, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// A snapshot is compared with the live member set by name: members that
// kept their names but moved stay allowed (step 3 repoints them); a member
// set sharing no name is another cluster's data and is refused, naming both
// sets, unless the cluster file says the members were renamed on purpose.
func TestASnapshotFromAnotherClusterIsRefusedAndMovedMembersAreNot(t *testing.T) {
	path := realSnapshot(t, "cp-1")
	snap, err := snapshot.Members(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap) != 1 || snap[0].Name != "cp-1" || len(snap[0].PeerURLs) != 1 || !strings.HasPrefix(snap[0].PeerURLs[0], "http://127.0.0.1:") {
		t.Fatalf("members read from the snapshot: %+v, want cp-1 with its peer URL", snap)
	}
	peer := snap[0].PeerURLs
	for _, tc := range []struct {
		name    string
		live    []Member
		renamed bool
		refused bool
		want    []string
	}{
		{"the same member at the same URL is this cluster", []Member{{Name: "cp-1", PeerURLs: peer}}, false, false,
			[]string{"snapshot from this cluster: 1 of 1 member names shared (cp-1)"}},
		{"the same member at a new peer URL moved and is allowed", []Member{{Name: "cp-1", PeerURLs: []string{"https://10.0.1.21:2380"}}}, false, false,
			[]string{"members moved since the snapshot (peer URLs): cp-1 " + peer[0] + " -> https://10.0.1.21:2380"}},
		{"a member set grown around a shared name is allowed and the change is shown",
			[]Member{{Name: "cp-1", PeerURLs: peer}, {Name: "cp-2", PeerURLs: []string{"https://10.0.0.12:2380"}}, {Name: "cp-3", PeerURLs: []string{"https://10.0.0.13:2380"}}},
			false, false, []string{"member set changed since the snapshot", "this cluster's are [cp-1 (" + peer[0] + "), cp-2"}},
		{"no shared name is another cluster and is refused naming both sets",
			[]Member{{Name: "prod-a", PeerURLs: []string{"https://10.9.0.1:2380"}}, {Name: "prod-b", PeerURLs: []string{"https://10.9.0.2:2380"}}}, false, true,
			[]string{"comes from another cluster", "the snapshot's members are [cp-1 (" + peer[0] + ")]",
				"this cluster's are [prod-a (https://10.9.0.1:2380), prod-b (https://10.9.0.2:2380)]",
				"would replace every object of this cluster", "snapshot.membersRenamed: true"}},
		{"no shared name is accepted when the members were renamed on purpose",
			[]Member{{Name: "prod-a", PeerURLs: []string{"https://10.9.0.1:2380"}}}, true, false,
			[]string{"accepted because snapshot.membersRenamed is true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facts, err := SnapshotFromCluster(path, snap, tc.live, tc.renamed)
			if (err != nil) != tc.refused {
				t.Fatalf("refused = %v (%v), want %v", err != nil, err, tc.refused)
			}
			got := strings.Join(facts, "\n")
			if err != nil {
				got = err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
