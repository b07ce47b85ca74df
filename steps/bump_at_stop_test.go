package steps

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The bump decided before step 2's gate: never again once a restore began,
// 1e9 when no member answers (preflight's reading is too early to trust),
// and a configured bump that does not pass the live revision is flagged.
func TestTheBumpBeforeStep2sGateIsDecidedOnceAndFallsBackWhenNoMemberAnswers(t *testing.T) {
	unreachable := []Member{{Node: "cp-1", Name: "cp-1", ClientURLs: []string{"https://127.0.0.1:1"}},
		{Node: "cp-2", Name: "cp-2", ClientURLs: []string{"https://127.0.0.1:1"}}}
	for _, tc := range []struct {
		name      string
		setting   string
		values    Values
		wantBump  int64
		wantAsked bool
		wantFact  string
	}{
		{"a restore already begun keeps the bump it used and asks no member", "auto",
			Values{Members: unreachable, LiveRevision: 51210, SnapshotRevision: 48210, Bump: 4600, RestoredAt: time.Now()},
			4600, false, "(read in preflight)"},
		{"no member answering once the apiservers are stopped bumps by 1e9 and says so", "auto",
			Values{Members: unreachable, LiveRevision: 51210, SnapshotRevision: 48210, Bump: 4600},
			1_000_000_000, true, "no etcd member answered once the apiservers were stopped"},
		{"a configured bump below the live revision is used and flagged", "10",
			Values{Members: unreachable, LiveRevision: 51210, SnapshotRevision: 48210, Bump: 10},
			10, true, "WARNING: snapshot revision 48210 + 10 does not pass the live revision 51210"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := testCluster(t.TempDir())
			cl.Etcd.BumpRevision = tc.setting
			x := &localExec{}
			c := &Context{Cluster: cl, Exec: x, Values: tc.values}
			if err := decideBumpAtStop(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if c.Values.Bump != tc.wantBump {
				t.Errorf("bump = %d, want %d", c.Values.Bump, tc.wantBump)
			}
			if asked := len(x.ran) > 0; asked != tc.wantAsked {
				t.Errorf("members asked = %v, want %v (%v)", asked, tc.wantAsked, x.ran)
			}
			if f := c.bumpFact(); !strings.Contains(f, tc.wantFact) {
				t.Errorf("gate fact %q lacks %q", f, tc.wantFact)
			}
		})
	}
}
