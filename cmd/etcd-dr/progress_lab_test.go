package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Issues 19.5, 19.6 and 15.7 on a real lab restored headless, with the
// copy to every member slowed by the FAKE rate knob (a slow link cannot be
// made for real on one machine): the step-2 gate shows each member's
// etcd.yaml edit as a diff of the file read from the node; the copies
// report their bytes and rate and journal a few records each; each
// member's restore is given the time its slow copy says it needs, far
// beyond what the 10 MiB/s assumption gives; and the lab is restored.
func TestASlowCopySizesTheRestoreAndTheRunShowsDiffsAndProgress(t *testing.T) {
	l := inProcessLab(t, 211)
	st, err := os.Stat(filepath.Join(l.Dir(), "snapshot.db"))
	must(t, err)
	size := st.Size()
	// 256 KiB/s: a quarter of it is the slowest rate a restore is sized
	// at (the crawl rate the copy itself is held to, ÷ 4), so the expected
	// deadline below is exact for a lab snapshot of any size.
	const fakeRate = 256 << 10
	saw, err := runEngineWith(t, l.ClusterFile(), func(o *steps.Options) { o.FakeCopyRate = fakeRate })
	if err != nil {
		t.Fatalf("the run failed: %v\n%s", err, tail(saw, 60))
	}
	requireInvariants(t, l.Dir())

	// The gate's diff is the node's own etcd.yaml: a hunk with line
	// numbers, the hostPath line replaced.
	for _, w := range []string{"--- /etc/kubernetes/parked/etcd.yaml", "@@ -", "-      path: /var/lib/etcd\n", "+      path: /var/lib/etcd-restored-",
		"move /etc/kubernetes/manifests/kube-apiserver.yaml → /etc/kubernetes/parked/kube-apiserver.yaml"} {
		if !strings.Contains(saw, w) {
			t.Errorf("the operator did not see %q at a gate; saw (tail):\n%s", w, tail(saw, 80))
		}
	}

	// Each member's copy reported its bytes and rate, and its restore
	// deadline exceeds its sha256 check's (same floor, one pass at the
	// assumed rate) by what four passes at a quarter of the slow rate take.
	deadline := regexp.MustCompile(`progress (\S+)\s+(.*?): \d+:\d+(?::\d+)? of (\d+(?::\d+)+)`)
	restore, check := map[string]time.Duration{}, map[string]time.Duration{}
	copied := map[string]bool{}
	for _, line := range strings.Split(saw, "\n") {
		if strings.Contains(line, " progress ") {
			t.Log(line)
		}
		if strings.Contains(line, " progress ") && strings.Contains(line, "copy the snapshot to ") &&
			strings.Contains(line, "(100%) at ") && strings.HasSuffix(line, " done") {
			copied[strings.Fields(line)[2]] = true
		}
		m := deadline.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch {
		case strings.HasPrefix(m[2], "restore "):
			restore[m[1]] = clockDuration(t, m[3])
		case strings.HasPrefix(m[2], "check the copy's sha256"):
			check[m[1]] = clockDuration(t, m[3])
		}
	}
	// 4 passes × size ÷ (rate ÷ 4); the assumption alone gives
	// 4 × size ÷ 10 MiB/s, under a second for the lab's snapshot.
	want := time.Duration(16 * float64(size) / fakeRate * float64(time.Second))
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		if !copied[n] {
			t.Errorf("no finished copy with its figures for %s; saw (tail):\n%s", n, tail(saw, 80))
		}
		if restore[n] == 0 || check[n] == 0 {
			t.Errorf("%s: no restore (%v) or sha256 check (%v) deadline shown", n, restore[n], check[n])
			continue
		}
		if extra := restore[n] - check[n]; extra < want*9/10 {
			t.Errorf("%s's restore deadline %v is only %v beyond its sha256 check's %v, want about %v from its slow copy",
				n, restore[n], extra, check[n], want)
		}
	}

	// A few journal records per copy, whatever its size.
	journals, err := filepath.Glob(filepath.Join(l.Dir(), "state", "*", "journal.jsonl"))
	must(t, err)
	// Per node and per piece of work: a node also gets the etcd tools
	// brought to it, each a copy with its own records.
	perNode := map[string]int{}
	perWork := map[string]int{}
	for _, j := range journals {
		recs, err := journal.ReadFile(j)
		must(t, err)
		for _, r := range recs {
			if r.Kind != journal.KindProgress {
				continue
			}
			perNode[r.Node]++
			var ev steps.ProgressEvent
			if len(r.Progress) == 0 || json.Unmarshal(r.Progress, &ev) != nil {
				t.Errorf("%s: a progress record without its typed event: %+v", r.Node, r)
				continue
			}
			perWork[r.Node+": "+ev.Work]++
		}
	}
	for w, c := range perWork {
		if c > 5 {
			t.Errorf("%s: %d progress records journaled, want at most start, three quarters and the end", w, c)
		}
	}
	if len(perNode) < 3 {
		t.Errorf("progress journaled for %v in %v, want every member's copy", perNode, journals)
	}
	t.Logf("snapshot %d bytes, fake rate %d B/s, restore deadline %v beyond the check's", size, fakeRate, want)
}

// clockDuration parses m:ss or h:mm:ss.
func clockDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	var d time.Duration
	for _, p := range strings.Split(s, ":") {
		n, err := strconv.Atoi(p)
		must(t, err)
		d = d*60 + time.Duration(n)
	}
	return d * time.Second
}
