package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// A restore of seven members, the size where starting them all at once cost
// 24–31 s: each restored member runs etcd's initial corruption check (kubeadm
// turns it on), which asks every peer for its hash and waits up to 7 s for a
// peer that is itself still in the check; and the old leader, stopped with
// its followers, waits for a leadership transfer to a member that is stopping
// too. The evidence is the real etcd logs and the lab's pod exits, not a
// clock: no member waited out a hash request, and no etcd had to be killed.
func TestRestoringSevenMembersNeitherWaitsOutAHashCheckNorKillsTheLeader(t *testing.T) {
	labtest.Block(t, 244)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	args := []string{"drill", "--headless", "--keep", "--dir", dir, "--block", "244",
		"--topology", "external", "--etcd-nodes", "7", "--nodes", "1", "--workers", "0"}
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("drill exit %d\n%s\n%s", code, &out, tail(errb.String(), 40))
	}

	logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "logs", "etcd.log"))
	if len(logs) != 7 {
		t.Fatalf("want the etcd logs of 7 members, found %d: %v", len(logs), logs)
	}
	for _, f := range logs {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "failed hash kv request") && strings.Contains(line, "deadline exceeded") {
				t.Errorf("%s: a member's initial corruption check waited out a peer that was not serving yet "+
					"(members started together):\n%s", f, line)
			}
		}
	}

	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == lab.EvPodExit && e.Pod == "etcd" && strings.Contains(e.Detail, "killed") {
			t.Errorf("%s: etcd did not stop within the kubelet's grace period and was killed at %s "+
				"(a leader waiting to hand over to a stopping member)", e.Node, e.Time.Format("15:04:05.000"))
		}
	}
}
