package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// Two of three members are destroyed after the writes that followed
// snapshot.db (fault majority-lost: no quorum, no apiserver), and the
// cluster file says snapshot: {from: best-member}. The headless drill ranks
// the members' dbs in preflight, takes the survivor's (cp-2, the only one
// readable, hence the most advanced) once every etcd is stopped, restores
// every member from it with --skip-hash-check, and lab verify holds with
// the post-snapshot writes still served: the opposite of a snapshot drill.
func TestDrillFromTheBestMemberKeepsTheWritesAfterTheSnapshot(t *testing.T) {
	labtest.Block(t, 180)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	args := []string{"drill", "--headless", "--dir", dir, "--block", "180", "--workers", "1",
		"--snapshot-from", "best-member", "--fault", "majority-lost"}
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("drill exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, &out, tail(errb.String(), 60))
	}
	for _, want := range []string{
		"restore-etcd         done",
		"verify               done",
		"ok    no-restore-while-apiserver-ran",
		"ok    old-data-dirs-untouched",
		"ok    " + lab.CheckObjectsKept,
		"ok    etcd-one-healthy-cluster-one-leader",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("scorecard lacks %q:\n%s", want, &out)
		}
	}
	for _, want := range []string{
		"source member db read cp-2 (cp-2): revision", // ranked
		"not ranked: its db cannot be read",           // cp-1 and cp-3 lost theirs
		"headless: choosing source=cp-2, the default", // the typed pick at step 1's gate
		"source db taken from the stopped member verifies",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("the run's events lack %q", want)
		}
	}
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	restores := 0
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && strings.Contains(e.Command, "snapshot restore") {
			restores++
			if !strings.Contains(e.Command, "--skip-hash-check") {
				t.Errorf("on %s a member's db was restored without --skip-hash-check: %s", e.Node, e.Command)
			}
		}
	}
	if restores < 3 {
		t.Errorf("%d restore commands in the timeline, want one per member (3)", restores)
	}
}
