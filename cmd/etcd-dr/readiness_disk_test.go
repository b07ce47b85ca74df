package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The quota-and-disk readiness check counts etcd's WAL: a restored member
// preallocates two 64 MB segments (the restore's first one, and the next
// one the running member prepares ahead), so a disk that holds twice the
// snapshot but not the WAL is refused before anything changes, and
// `etcd-dr check` says so with a failing exit naming the check. (Case 5 of
// the fault matrix is the disk that fills up after this check.)
func TestTheDiskCheckCountsEtcdsPreallocatedWAL(t *testing.T) {
	l := inProcessLab(t, 201)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	must(t, l.FillDisk(ctx, "cp-2", "/var/lib/etcd-full", 4<<20))
	must(t, l.FillDisk(ctx, "cp-1", "/var/lib/etcd-full", 1<<30))
	must(t, l.FillDisk(ctx, "cp-3", "/var/lib/etcd-full", 1<<30))
	cluster := editCluster(t, l.ClusterFile(), "    mode: static-pod\n", "    restoredDataDir: /var/lib/etcd-full/restored-{{.Time}}\n")
	var out, errb bytes.Buffer
	code := run([]string{"check", "-f", cluster}, &out, &errb)
	if code != exitFailed {
		t.Fatalf("check exit %d, want %d:\n%s\n%s", code, exitFailed, &out, &errb)
	}
	for _, w := range []string{"readiness check quota-and-disk failed", "cp-2: ", "need", "and 128000000 for the WAL"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("check's error lacks %q:\n%s", w, &errb)
		}
	}
	for _, n := range []string{"cp-1", "cp-3"} {
		if strings.Contains(errb.String(), n+": ") {
			t.Errorf("check refuses %s, which has room:\n%s", n, &errb)
		}
	}
}
