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
	for _, a := range c.snapshotActions("cp-1").list() {
		if a.Cmd.Timeout != c.sizedTimeout(copyPasses) {
			t.Errorf("%q timeout %v, want %v", a.What, a.Cmd.Timeout, c.sizedTimeout(copyPasses))
		}
	}
}
