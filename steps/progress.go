package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/event"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Progress of long work (a snapshot copy, a restore, a wait) goes to the
// clients as typed ProgressEvents, bounded on every way out:
//   - to the clients at most every progressEvery per piece of work, and
//     the ones between start and end may be dropped under pressure
//     (eventq.go) like log lines: only the latest matters;
//   - to the journal only its start, each quarter of its bytes and its
//     end (at most five records, whatever the size): a 1 GiB copy must not
//     flood the record a resume and `watch` read.
const progressEvery = 500 * time.Millisecond

// progress is one piece of long work on one node.
type progress struct {
	c       *Context
	ev      ProgressEvent // Step, Node, Work, Kind, Total, Started, Deadline
	done    atomic.Int64
	lastAt  atomic.Int64 // wall-clock unix nanos of the last byte moved (or the start): the watchdog's, whatever clock events use
	mu      sync.Mutex
	sent    time.Time // last event emitted
	quarter int64     // last quarter of Total journaled
	ended   bool
}

// startProgress reports that work begins on node: bytes (total known or
// 0) or a wait until deadline (zero: none).
func (c *Context) startProgress(node, work string, kind ProgressKind, total int64, deadline time.Time) *progress {
	now := c.now()
	p := &progress{c: c, ev: ProgressEvent{Step: c.step, Node: node, Work: work, Kind: kind, Total: total,
		Started: now, Deadline: deadline}}
	p.lastAt.Store(time.Now().UnixNano())
	p.sent = now
	ev := p.ev
	ev.At = now
	c.report().emit(ev)
	p.journal(ev, "started")
	return p
}

// add counts n more bytes moved; it reports at most every progressEvery.
func (p *progress) add(n int) {
	if n <= 0 {
		return
	}
	done := p.done.Add(int64(n))
	p.lastAt.Store(time.Now().UnixNano())
	now := p.c.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	if p.ev.Total > 0 {
		if q := done * 4 / p.ev.Total; q > p.quarter && q < 4 {
			p.quarter = q
			p.journal(p.snapshot(now, done), fmt.Sprintf("%d%%", q*25))
		}
	}
	if now.Sub(p.sent) < progressEvery {
		return
	}
	p.sent = now
	p.c.report().emit(p.snapshot(now, done))
}

// Read counts what passes through a reader (a copy's stdin).
func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r: r, p: p} }

type countingReader struct {
	r io.Reader
	p *progress
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	cr.p.add(n)
	return n, err
}

// snapshot is the event for done bytes at now.
func (p *progress) snapshot(now time.Time, done int64) ProgressEvent {
	ev := p.ev
	ev.At, ev.Done = now, done
	if el := now.Sub(p.ev.Started).Seconds(); el > 0 {
		ev.Rate = float64(done) / el
	}
	return ev
}

// end reports the work over (err nil: done) and returns the rate measured.
func (p *progress) end(err error) float64 {
	now := p.c.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	ev := p.snapshot(now, p.done.Load())
	if p.ended {
		return ev.Rate
	}
	p.ended = true
	ev.End = true
	state := "done"
	if err != nil {
		ev.Err, state = Clean(err.Error()), "failed"
	}
	p.c.report().emit(ev)
	p.journal(ev, state)
	return ev.Rate
}

// journal records a bytes progress (waits are not journaled: their start
// and outcome are the step's own records and checks).
func (p *progress) journal(ev ProgressEvent, state string) {
	if ev.Kind != ProgressBytes {
		return
	}
	typed, _ := json.Marshal(ev) // a struct of plain fields: cannot fail
	_ = p.c.report().record(journal.Record{At: ev.At, Kind: journal.KindProgress, Step: string(ev.Step), Node: ev.Node,
		State: state, Why: ev.Work + ": " + ProgressFigures(ev), Ms: ev.At.Sub(ev.Started).Milliseconds(), Progress: typed})
}

// stalled makes ctx end with a StalledError once no byte has moved for
// stall: a copy fails on no progress, not on a total time that a slow but
// moving link would exceed. stop releases the watchdog.
func (p *progress) stalled(ctx context.Context, stall time.Duration) (context.Context, func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	tick := min(stall/4, 5*time.Second)
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-wctx.Done():
				return
			case <-t.C:
				last := time.Unix(0, p.lastAt.Load())
				if idle := time.Since(last); idle >= stall {
					cancel(&StalledError{Node: p.ev.Node, Work: p.ev.Work, Idle: stall, Done: p.done.Load(), Total: p.ev.Total})
					return
				}
			}
		}
	}()
	return wctx, func() { close(done); cancel(nil) }
}

// StalledError is long work that stopped moving: no byte for Idle.
type StalledError struct {
	Node, Work  string
	Idle        time.Duration
	Done, Total int64
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("%s on %s: no progress for %s (%s of %s moved): the link or the node's disk stopped; "+
		"check the node, then retry (this run's partial copy is removed first)",
		e.Work, e.Node, e.Idle, event.Bytes(e.Done), event.Bytes(e.Total))
}

// ProgressFigures renders a progress event's figures for people:
// "312 MiB of 1.0 GiB (31%) at 42 MiB/s", or for a wait "0:42 of 12:10".
func ProgressFigures(ev ProgressEvent) string {
	if ev.Kind == ProgressWait {
		s := clockOf(ev.At.Sub(ev.Started))
		if !ev.Deadline.IsZero() {
			s += " of " + clockOf(ev.Deadline.Sub(ev.Started))
		}
		return s
	}
	s := event.Bytes(ev.Done)
	if ev.Total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", event.Bytes(ev.Total), ev.Done*100/ev.Total)
	}
	if ev.Rate > 0 {
		s += " at " + event.Bytes(int64(ev.Rate)) + "/s"
	}
	return s
}

// clockOf renders a duration as h:mm:ss or m:ss.
func clockOf(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%d:%02d", m, s)
}

// copyTo streams the verified snapshot from f to node, reporting bytes and
// rate, failing when no byte moves for copyStall, and recording the rate
// that sizes node's restore timeout.
func (c *Context) copyTo(ctx context.Context, node string, f io.Reader) error {
	cp := c.snapshotActions(node).copy
	p := c.startProgress(node, "copy the snapshot to "+node, ProgressBytes, c.Values.SnapshotSize, time.Time{})
	cp.Cmd.Stdin = p.reader(c.slowed(f))
	sctx, stop := p.stalled(ctx, c.stallAfter())
	_, err := c.Exec1(sctx, cp)
	stop()
	err = stallCause(sctx, node, err)
	rate := p.end(err)
	if err == nil {
		c.measured(node, rate)
	}
	return err
}

// stallCause names a stall as the reason a command ended, instead of the
// bare cancellation the transport reports.
func stallCause(ctx context.Context, node string, err error) error {
	var st *StalledError
	if err != nil && errors.As(context.Cause(ctx), &st) {
		return &NodeError{Node: node, Err: st}
	}
	return err
}

func (c *Context) stallAfter() time.Duration {
	if c.copyStall > 0 {
		return c.copyStall
	}
	return copyStall
}

// slowed is r at the FAKE rate of Options.FakeCopyRate, or r itself.
func (c *Context) slowed(r io.Reader) io.Reader {
	if c.fakeCopyRate <= 0 {
		return r
	}
	return &fakeSlowReader{r: r, rate: c.fakeCopyRate, start: time.Now()}
}

// fakeSlowReader is a FAKE slow link: it hands out bytes no faster than
// rate per second, in small reads, as a congested link would.
type fakeSlowReader struct {
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (f *fakeSlowReader) Read(b []byte) (int, error) {
	chunk := max(f.rate/10, 1) // ten reads a second
	if int64(len(b)) > chunk {
		b = b[:chunk]
	}
	due := f.start.Add(time.Duration(float64(f.n) / float64(f.rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		time.Sleep(wait)
	}
	n, err := f.r.Read(b)
	f.n += int64(n)
	return n, err
}
