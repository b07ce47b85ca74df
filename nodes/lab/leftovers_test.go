package lab

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// `lab down` after a console quit while step 1 parked kube-apiserver: that
// pod ends only when its grace does (kube-apiserver drains its connections
// until the kubelet's SIGKILL at 30 s), so down waits for it, bounded,
// before naming anything still running. The pod in its grace is a real
// process that ends 8 s later (longer than the 5 s down used to allow); a
// process that outlives the bound is still named.
func TestLabDownWaitsOutAPodsGraceBeforeReportingIt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lives     string        // how long the recorded pod's process lives
		wait      time.Duration // down's bound; 0: Leftovers' own, as lab down
		leftovers bool
	}{
		{"a pod ending within its grace is not a leftover", "8", 0, false},
		{"a process outliving the bound is named", "60", 2 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tl, err := newTimeline(filepath.Join(dir, "timeline"))
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sleep", tc.lives)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			reaped := make(chan struct{})
			go func() { _ = cmd.Wait(); close(reaped) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-reaped })
			tl.add(Event{Node: "cp-1", Kind: EvPodStart, Pod: "kube-apiserver", PID: cmd.Process.Pid})
			tl.close()
			if tc.wait == 0 {
				err = Leftovers(dir)
			} else {
				err = leftoversWithin(dir, tc.wait)
			}
			if got := err != nil; got != tc.leftovers {
				t.Fatalf("leftovers = %v, want leftovers %v", err, tc.leftovers)
			}
			if tc.leftovers && !strings.Contains(err.Error(), "kube-apiserver on cp-1") {
				t.Errorf("the leftover is not named: %v", err)
			}
		})
	}
}
