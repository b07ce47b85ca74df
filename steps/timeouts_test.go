package steps

import (
	"testing"
	"time"
)

func TestCommandsOverTheSnapshotGetTimeToMoveItsBytes(t *testing.T) {
	tests := []struct {
		name   string
		floor  time.Duration // ssh.commandTimeout (0: the default)
		size   int64
		passes int64
		want   time.Duration
	}{
		{name: "a snapshot of unknown size gets the command timeout", size: 0, passes: restorePasses, want: 5 * time.Minute},
		{name: "a 100 MiB copy gets 10s more than the command timeout", size: 100 << 20, passes: copyPasses, want: 5*time.Minute + 10*time.Second},
		{name: "a 10 GiB copy gets 17 minutes more", size: 10 << 30, passes: copyPasses, want: 5*time.Minute + 1024*time.Second},
		{name: "a 10 GiB restore gets four passes: 68 minutes more", size: 10 << 30, passes: restorePasses, want: 5*time.Minute + 4096*time.Second},
		{name: "a configured command timeout is the floor", floor: 20 * time.Second, size: 100 << 20, passes: copyPasses, want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneNode(t, "run-1", "a@b")
			c.Cluster.SSH.CommandTimeout = tt.floor
			c.Values.SnapshotSize = tt.size
			if got := c.sizedTimeout(tt.passes); got != tt.want {
				t.Errorf("sizedTimeout(%d) = %v, want %v", tt.passes, got, tt.want)
			}
		})
	}
}

func TestTheRestoreCommandCarriesItsSizedTimeout(t *testing.T) {
	c := oneNode(t, "run-1", "a@b")
	c.Values.SnapshotSize = 10 << 30
	c.Values.Members = []Member{{Node: "cp-1", Name: "cp-1"}}
	if got, want := c.restoreCmd(c.Values.Members[0]).Timeout, c.sizedTimeout(restorePasses); got != want || got <= 5*time.Minute {
		t.Errorf("restore timeout %v, want %v", got, want)
	}
	acts := c.snapshotActions("cp-1")
	// The copy is cut off by its stall watchdog; its total timeout only
	// backs that up, far beyond what the bytes need at slowRate.
	if got := acts.copy.Cmd.Timeout; got != c.copyBackstop() || got <= c.sizedTimeout(copyPasses) {
		t.Errorf("%q timeout %v, want the backstop %v", acts.copy.What, got, c.copyBackstop())
	}
	if got := acts.check.Cmd.Timeout; got != c.sizedTimeout(copyPasses) {
		t.Errorf("%q timeout %v, want %v", acts.check.What, got, c.sizedTimeout(copyPasses))
	}
}

// 15.7: each member's restore is sized from the rate its own copy
// measured, never shorter than the 10 MiB/s assumption gives.
func TestEachMembersRestoreTimeoutFollowsTheRateItsCopyMeasured(t *testing.T) {
	const size = 1 << 30
	assumed := 5*time.Minute + time.Duration(restorePasses*size/slowRate)*time.Second // 5m + 6m50s
	tests := []struct {
		name string
		rate float64 // measured bytes/s; 0: not measured
		want time.Duration
	}{
		{name: "a member whose copy was not measured gets the assumption", rate: 0, want: assumed},
		{name: "a fast copy (into the page cache) never shortens it", rate: 500 << 20, want: assumed},
		{name: "a copy at exactly four times the assumption keeps it", rate: 4 * slowRate, want: assumed},
		{name: "a copy at 4 MiB/s sizes the restore at 1 MiB/s: 4 passes of 1 GiB in 68 minutes",
			rate: 4 << 20, want: 5*time.Minute + 4096*time.Second},
		{name: "a crawling copy cannot make it endless: bounded by the crawl rate the copy itself is held to",
			rate: 10, want: 5*time.Minute + time.Duration(restorePasses*size/(crawlRate/restoreSafety))*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := oneNode(t, "run-1", "a@b")
			c.Values.SnapshotSize = size
			if tt.rate > 0 {
				c.measured("cp-1", tt.rate)
			}
			got := c.restoreTimeout("cp-1")
			if d := got - tt.want; d < -time.Second || d > time.Second {
				t.Errorf("restoreTimeout = %v, want %v", got, tt.want)
			}
			if other := c.restoreTimeout("cp-2"); other-assumed < -time.Second || other-assumed > time.Second {
				t.Errorf("another member's restore timeout = %v, want the assumption %v: rates are per member", other, assumed)
			}
			if cmd := c.restoreCmd(Member{Node: "cp-1", Name: "cp-1"}); cmd.Timeout != got {
				t.Errorf("the restore command carries %v, want %v", cmd.Timeout, got)
			}
		})
	}
}
