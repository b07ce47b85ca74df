package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// TestQuickModeMeasuresEveryRow runs the whole driver once in quick mode
// (tiny sizes, short durations) and checks that every benchmark produced
// rows and every row, and every peer figure, was measured. No timing is
// asserted: benchmarks are not timed tests.
func TestQuickModeMeasuresEveryRow(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "etcd-dr")
	if out, err := exec.Command("go", "build", "-o", bin, "../etcd-dr").CombinedOutput(); err != nil {
		t.Fatalf("build etcd-dr: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "results.json")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--quick", "-etcd-dr", bin, "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("bench --quick exited %d (peers missing? run ./bench/peers.sh)\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	for _, tc := range []struct{ name, prefix string }{
		{"fan-out is measured for etcd-dr, its floor (a bare x/crypto/ssh client), parallel-ssh and ansible", "fan-out "},
		{"the log flood is measured through the console model", "log flood "},
		{"snapshot verify, restore and distribution are measured beside their floors", "snapshot "},
		{"the diff summary is measured beside a bare bbolt walk", "diff summary "},
		{"step 5 is measured on in-process workers beside its floor, with the console's key-to-frame", "flush "},
		{"the drill reports its RTO and every step", "drill "},
		{"the drill's overhead over the waits no tool can skip is measured per step", "drill overhead "},
		{"scale reports steps 1, 2 and 5", "scale "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			for _, r := range rows {
				if !strings.HasPrefix(r.Name, tc.prefix) {
					continue
				}
				n++
				if !r.Measured || (r.Peer != "" && r.PeerValue <= 0) {
					t.Errorf("row %q not measured: %+v", r.Name, r)
				}
				// Quick sizes cannot prove a production-size goal.
				if !r.Quick || r.Met {
					t.Errorf("row %q of a --quick run is not marked quick and unmet: %+v", r.Name, r)
				}
			}
			if n == 0 {
				t.Errorf("no rows start with %q; rows: %+v", tc.prefix, rows)
			}
		})
	}
}

// The bench's drills and labtest's lab tests lock a block through the same
// file (no lab is started here; block 150 is the bench's RTO drill block):
// a second holder finds it busy until the first releases it, whether the
// first is the bench or a lab test.
func TestTheBenchWaitsForALabTestOnItsBlock(t *testing.T) {
	busy := func(who string) {
		t.Helper()
		f, busy, err := tryLockBlock(drillBlock)
		if err != nil {
			t.Fatal(err)
		}
		if !busy {
			f.Close()
			t.Fatalf("block %d held by %s, but the bench's lock on %s was free", drillBlock, who, blockLockPath(drillBlock))
		}
	}
	release, err := lockBlock(t.Context(), drillBlock, nil)
	if err != nil {
		t.Fatal(err)
	}
	busy("another bench drill")
	release()
	f, taken, err := tryLockBlock(drillBlock)
	if err != nil || taken {
		t.Fatalf("block %d released, but the bench's lock is still busy (%v)", drillBlock, err)
	}
	f.Close()

	labtest.Block(t, drillBlock) // held until the test ends
	busy("labtest.Block")
}
