package steps

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// A copy of 1 GiB to a member, through a real process reading its stdin:
// the clients see its bytes and rate, the journal keeps only its start,
// its quarters and its end, and the rate is kept for the restore timeout.
func TestACopyReportsBytesAndRateAndJournalsOnlyAFewRecords(t *testing.T) {
	const size = 1 << 30
	r := newRig(t)
	dst := filepath.Join(r.dir, "data", "etcd-restored")
	copyStep := Step{ID: "copy", Title: "Copy the snapshot", Why: "progress",
		Run: func(ctx context.Context, c *Context) error {
			c.Values.SnapshotSize, c.Values.DataDir, c.Values.Run = size, dst, "run-1"
			c.Values.SnapshotMemberCopy = c.memberCopyPath()
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			if err := c.copyTo(ctx, "cp-1", io.LimitReader(zeros{}, size)); err != nil {
				return err
			}
			if c.throughput["cp-1"] <= 0 {
				return errors.New("no rate kept for cp-1's restore timeout")
			}
			return os.Remove(c.Values.SnapshotMemberCopy) // 1 GiB of zeros in the test's temp dir
		}}
	e := r.engine(t, func(o *Options) { o.Steps = []Step{copyStep} })
	progress := runCollectingProgress(t, e, 5*time.Minute) // 1 GiB through a local pipe: seconds; generous for a loaded CI machine
	if len(progress) < 2 {
		t.Fatalf("got %d progress events, want a start and an end at least", len(progress))
	}
	first, last := progress[0], progress[len(progress)-1]
	if first.Done != 0 || first.Total != size || first.Node != "cp-1" || first.Kind != ProgressBytes {
		t.Errorf("first event %+v, want cp-1 at 0 of %d bytes", first, size)
	}
	if !last.End || last.Err != "" || last.Done != size || last.Rate <= 0 {
		t.Errorf("last event %+v, want the end with every byte and a rate", last)
	}
	var recs []journal.Record
	for _, rec := range r.records(t) {
		if rec.Kind == journal.KindProgress {
			recs = append(recs, rec)
		}
	}
	var states []string
	for _, rec := range recs {
		states = append(states, rec.State)
	}
	if got := strings.Join(states, " "); got != "started 25% 50% 75% done" {
		t.Errorf("journaled progress %q, want the start, each quarter and the end only", got)
	}
	if n := len(recs); n > 0 && !strings.Contains(recs[n-1].Why, "1.0 GiB of 1.0 GiB (100%) at ") {
		t.Errorf("the last record says %q, want the figures", recs[n-1].Why)
	}
}

// A copy that stops moving fails on the stall, named as such, not after a
// total time: here the node reads 1 MiB and then never reads again (a
// FAKE stall: the process stops reading its stdin, as a node behind a dead
// link does).
func TestACopyThatStopsMovingFailsOnTheStall(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	c := oneNode(t, "run-1", "a@b")
	c.copyStall = time.Second
	c.Values.SnapshotSize, c.Values.Run = 64<<20, "run-1"
	a := Action{Node: "cp-1", What: "copy", Cmd: shCmd(c.Cluster, `head -c 1048576 >"$1"; exec sleep 60`, filepath.Join(dir, "part"))}
	p := c.startProgress("cp-1", "copy the snapshot to cp-1", ProgressBytes, c.Values.SnapshotSize, time.Time{})
	a.Cmd.Stdin = p.reader(bytes.NewReader(make([]byte, 64<<20)))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second) // the stall is 1 s; far below sleep 60
	defer cancel()
	sctx, stop := p.stalled(ctx, c.stallAfter())
	res, err := r.exec.Run(sctx, "cp-1", a.Cmd, nil)
	if err == nil {
		err = res.Err // the process killed when the watchdog ended its context
	}
	stop()
	err = stallCause(sctx, "cp-1", err)
	var st *StalledError
	if !errors.As(err, &st) {
		t.Fatalf("err = %v, want a StalledError", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("cut off by the test's deadline, not the stall")
	}
	if st.Done < 1<<20 || st.Done >= 64<<20 || !strings.Contains(err.Error(), "no progress for 1s") {
		t.Errorf("stall = %+v (%v), want the bytes moved before it and the interval", st, err)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// Headless prints a piece of work's start and end, and between them at
// most one line every headlessProgressEvery, whatever the engine sends.
func TestHeadlessPrintsProgressAtMostEveryFewSeconds(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	printed := map[string]time.Time{}
	var lines []string
	for ms := 0; ms <= 20000; ms += 500 { // a 20 s copy reported twice a second
		ev := ProgressEvent{At: t0.Add(time.Duration(ms) * time.Millisecond), Started: t0, Node: "cp-2", Work: "copy",
			Kind: ProgressBytes, Done: int64(ms) << 20, Total: 20000 << 20, Rate: 2 << 20, End: ms == 20000}
		if progressDue(ev, printed) {
			lines = append(lines, FormatEvent(ev))
		}
	}
	if len(lines) != 5 { // 0 s, 5, 10, 15 s and the end at 20 s
		t.Errorf("printed %d lines, want 5 (start, every 5 s, end):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if !strings.HasSuffix(lines[len(lines)-1], "done") || !strings.Contains(lines[1], "4.9 GiB of 20 GiB (25%) at 2.0 MiB/s") {
		t.Errorf("lines do not carry the figures:\n%s", strings.Join(lines, "\n"))
	}
}

// runCollectingProgress runs e to its end within limit, proceeding at every
// gate, and returns the progress events it sent; the run must succeed.
func runCollectingProgress(t *testing.T, e *Engine, limit time.Duration) []ProgressEvent {
	t.Helper()
	var progress []ProgressEvent
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range e.Events() {
			switch ev := ev.(type) {
			case GateEvent:
				e.Decide(Decision{Proceed: true, By: "test"})
			case ProgressEvent:
				progress = append(progress, ev)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	_, err := e.Run(ctx)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	return progress
}
