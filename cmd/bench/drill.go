package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
)

// Lab blocks of this benchmark: the RTO drill on 150, scale drills from 151
// (one block per size, so a lab left behind never collides with the next).
const (
	drillBlock = 150
	scaleBlock = 151
)

// scorecard is the part of `etcd-dr drill -o json` the benchmarks read.
type scorecard struct {
	RTO     string    `json:"rto"`
	Ended   time.Time `json:"ended"`
	Journal string    `json:"journal"`
	Steps   []struct {
		Step     string `json:"step"`
		Duration string `json:"duration"`
		State    string `json:"state"`
	} `json:"steps"`
}

// runDrill runs one headless drill on a fresh lab and returns its
// scorecard and the drill's wall time (lab up, procedure, verify, down).
func runDrill(ctx context.Context, c options, block, members, workers int) (scorecard, time.Duration, error) {
	return runDrillWith(ctx, c, block, members, workers, nil)
}

// runDrillWith is runDrill with a watcher: watch starts with the drill,
// given the lab dir, and the function it returns reads the dir once the
// drill succeeded, before the dir is removed.
func runDrillWith(ctx context.Context, c options, block, members, workers int,
	watch func(ctx context.Context, dir string) func(scorecard) error) (scorecard, time.Duration, error) {
	release, err := lockBlock(ctx, block, c.Progress)
	if err != nil {
		return scorecard{}, 0, err
	}
	defer release() // after the lab is down (the deferred RemoveAll and lab down run first)
	dir, err := os.MkdirTemp("", "etcd-dr-bench-drill-")
	if err != nil {
		return scorecard{}, 0, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, c.EtcdDR, "drill", "--headless", "-o", "json", "--dir", dir,
		"--block", fmt.Sprint(block), "--nodes", fmt.Sprint(members), "--workers", fmt.Sprint(workers))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var after func(scorecard) error
	if watch != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		after = watch(wctx, dir)
	}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		exec.Command(c.EtcdDR, "lab", "down", "--dir", dir).Run() // never leave a lab behind
		return scorecard{}, wall, fmt.Errorf("%s drill (%d members, %d workers, block %d): %w: %s", c.EtcdDR, members, workers, block, err, tailLines(stderr.String(), 5))
	}
	// The scorecard JSON comes first; the invariants follow as text.
	var sc scorecard
	if err := json.NewDecoder(&stdout).Decode(&sc); err != nil {
		return sc, wall, fmt.Errorf("drill scorecard: %w", err)
	}
	if after != nil {
		return sc, wall, after(sc)
	}
	return sc, wall, nil
}

// blockLockPath is the file nodes/lab/labtest flocks for lab block b (its
// lockPath): the bench takes the same lock, so a test suite and a bench run
// on one block wait for each other instead of sharing 127.b.x.y.
// TestTheBenchWaitsForALabTestOnItsBlock holds the two to the same file.
func blockLockPath(b int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("etcd-dr-lab-block-%d.lock", b))
}

// tryLockBlock takes block b's flock if it is free; busy says another
// holder has it. The kernel drops the lock when the process dies.
func tryLockBlock(b int) (f *os.File, busy bool, err error) {
	f, err = os.OpenFile(blockLockPath(b), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("lock lab block %d: %w", b, err)
	}
	return f, false, nil
}

// lockBlock holds block b for one drill, waiting while a test or another
// bench holds it (polled, so an interrupted bench stops waiting).
func lockBlock(ctx context.Context, b int, progress io.Writer) (release func(), err error) {
	said := false
	for {
		f, busy, err := tryLockBlock(b)
		switch {
		case err != nil:
			return nil, err
		case !busy:
			return func() { f.Close() }, nil
		case !said && progress != nil:
			fmt.Fprintf(progress, "bench: lab block %d is in use by another process (%s); waiting for it\n", b, blockLockPath(b))
			said = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for lab block %d: %w", b, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func (sc scorecard) step(id string) (time.Duration, bool) {
	for _, s := range sc.Steps {
		if s.Step == id {
			d, err := time.ParseDuration(s.Duration)
			return d, err == nil
		}
	}
	return 0, false
}

// drillRTO reports the RTO, the drill's wall time and every step's time of
// one warm 3-member, 2-worker drill.
func drillRTO(ctx context.Context, c options) ([]Row, error) {
	sc, wall, err := runDrill(ctx, c, drillBlock, 3, 2)
	if err != nil {
		return nil, err
	}
	rto, err := time.ParseDuration(sc.RTO)
	if err != nil {
		return nil, fmt.Errorf("drill scorecard: rto %q: %w", sc.RTO, err)
	}
	rows := []Row{{Name: "drill 3 members + 2 workers: RTO (scorecard)", Value: rto.Seconds(), Unit: "s", Goal: "< 90 s", Met: rto < 90*time.Second, Measured: true},
		{Name: "drill 3 members + 2 workers: wall time (lab up, procedure, verify, down)", Value: wall.Seconds(), Unit: "s", Measured: true}}
	var top string
	var topD time.Duration
	for _, s := range sc.Steps {
		d, ok := sc.step(s.Step)
		rows = append(rows, Row{Name: "drill step " + s.Step, Value: d.Seconds(), Unit: "s", Measured: ok})
		if d > topD {
			top, topD = s.Step, d
		}
	}
	rows[0].Note = fmt.Sprintf("dominated by %s (%.0f%% of the step time)", top, 100*topD.Seconds()/sumSteps(sc).Seconds())
	return rows, nil
}

func sumSteps(sc scorecard) time.Duration {
	var t time.Duration
	for _, s := range sc.Steps {
		d, _ := sc.step(s.Step)
		t += d
	}
	return max(t, 1)
}

// scaleSteps are the steps whose time grows with the node count: stop the
// apiservers (1), restore every member (2), restart the rest (5).
var scaleSteps = []string{string(steps.StopApiservers), string(steps.RestoreEtcd), string(steps.FlushCaches)}

// scale runs one drill per size and reports steps 1, 2 and 5: members
// grow steps 1 and 2 (every member is restored), workers grow step 5 (the
// kubelet restarts on every node, Concurrency at a time).
func scale(ctx context.Context, c options) ([]Row, error) {
	var rows []Row
	for i, size := range c.Scale {
		sc, _, err := runDrill(ctx, c, scaleBlock+i, size[0], size[1])
		if err != nil {
			return rows, err
		}
		for _, id := range scaleSteps {
			d, ok := sc.step(id)
			rows = append(rows, Row{Name: fmt.Sprintf("scale %d members + %d workers: %s", size[0], size[1], id),
				Value: d.Seconds(), Unit: "s", Measured: ok})
		}
	}
	return rows, nil
}
