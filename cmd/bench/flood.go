package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/sys/unix"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/tui"
)

// frame is how often each flooding node sends a batch, like the engine's
// per-node line batching.
const frame = 33 * time.Millisecond

// timedKey is a key press stamped when the operator pressed it.
type timedKey struct {
	at  time.Time
	key tea.KeyPressMsg
}

// loop is a minimal Bubble Tea runtime without a terminal: the console's
// own commands (its coalescing event reader, its clock) run in goroutines
// and their messages come back through one channel, as in tea.Program.
type loop struct {
	msgs chan tea.Msg
}

func (l *loop) launch(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() { l.deliver(cmd()) }()
}

func (l *loop) deliver(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			l.launch(c)
		}
	default:
		l.msgs <- msg
	}
}

type floodStats struct {
	views, keys []time.Duration
	// frameCPU is the CPU the loop's thread spent on each Update and View:
	// the console's own cost, which a loaded machine does not inflate.
	frameCPU []time.Duration
	sent     atomic.Int64
	// late is the lines a feeder pushed after the deadline: written by its
	// node in time, read when the feeder next got a core.
	late atomic.Int64
	// drain is how long after the feeders stopped the console had taken
	// in every line sent (0: it never caught up).
	drain    time.Duration
	peakHeap atomic.Uint64
}

// flood feeds FloodNodes × FloodRate lines/s into the real console model
// for FloodFor while an operator presses a key ten times a second.
func flood(ctx context.Context, c options) ([]Row, error) {
	cl := &config.Cluster{Name: "flood"}
	for i := range c.FloodNodes {
		cl.Nodes = append(cl.Nodes, config.Node{Name: fmt.Sprintf("node-%02d", i), Roles: []string{config.RoleControlPlane, config.RoleEtcd}})
	}
	// The feeders push into the engine's own queue, as Engine.emit does: it
	// never blocks them, and the console reads its channel.
	q := steps.NewEventQueue()
	var m tea.Model = tui.New(tui.Options{Cluster: cl, Events: q.Events(), Decide: func(steps.Decision) {}})
	m, _ = m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
	l := &loop{msgs: make(chan tea.Msg, 64)}
	l.launch(m.Init())

	var st floodStats
	load0 := loadAvg()
	cpu0, wall0 := cpuTime(), time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { sampleHeap(stop, &st.peakHeap) })
	wg.Go(func() { pressKeys(stop, l.msgs) })
	tr, err := openFloodTranscript()
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(filepath.Dir(filepath.Dir(tr.Path())))
	q.Push(steps.StepEvent{At: time.Now(), Step: steps.RestoreEtcd, State: steps.Running})
	producers := produce(ctx, c, q, &st.sent, &st.late, tr)
	done := make(chan struct{})
	var stopped atomic.Int64 // UnixNano when the feeders stopped
	go func() { producers.Wait(); stopped.Store(time.Now().UnixNano()); q.Close(); close(done) }()

	m = drive(m, l, done, func(m tea.Model) bool {
		if received(m) < st.sent.Load()-int64(q.DroppedLines()) {
			return false
		}
		st.drain = time.Since(time.Unix(0, stopped.Load()))
		return true
	}, &st)
	close(stop)
	wg.Wait()
	cores := (cpuTime() - cpu0).Seconds() / time.Since(wall0).Seconds()
	if err := tr.Close(); err != nil {
		return nil, err
	}
	stored, err := transcriptLines(tr.Path())
	if err != nil {
		return nil, err
	}
	rows := floodRows(c, &st, cores, load0, loadAvg())
	if lm, ok := m.(tui.Model); ok {
		rows = append(rows, storedRows(c, &st, stored, int64(q.DroppedLines()), lm.LogStats())...)
	}
	return rows, nil
}

// received is how many log lines the console model has taken in.
func received(m tea.Model) int64 {
	if lm, ok := m.(tui.Model); ok {
		return int64(lm.LogStats().Received)
	}
	return 0
}

// openFloodTranscript opens a real transcript in a temporary state dir: the
// engine writes every line there before batching it to the console.
func openFloodTranscript() (*journal.Transcript, error) {
	dir, err := os.MkdirTemp("", "etcd-dr-bench-flood-")
	if err != nil {
		return nil, err
	}
	j, err := journal.Open(dir, "flood")
	if err != nil {
		return nil, err
	}
	defer j.Close()
	return j.OpenTranscript("flood", "bench@bench")
}

// transcriptLines counts the node output lines the transcript holds.
func transcriptLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l, ok := journal.ParseTranscriptLine(sc.Text()); ok && l.Node != "-" {
			n++
		}
	}
	return n, sc.Err()
}

// storedRows say where the flood's lines ended up: all of them in the
// transcript and in the console, a bounded number in the console's rings.
func storedRows(c options, st *floodStats, stored, dropped int64, ls tui.LogStats) []Row {
	name := fmt.Sprintf("log flood %d nodes × %d lines/s, %s: ", c.FloodNodes, c.FloodRate, c.FloodFor)
	sent, got := st.sent.Load(), int64(ls.Received)
	return []Row{
		{Name: name + "lines the console received vs sent", Value: float64(got), Unit: "lines",
			Peer: "sent", PeerValue: float64(sent), Ratio: ratio(float64(got), float64(sent)),
			Goal: "= sent (none dropped for a slow console)", Met: sent > 0 && got == sent, Measured: sent > 0,
			Note: fmt.Sprintf("%d dropped by the engine's queue (bounded in lines), %d not delivered; the console had every line %.1f ms after the feeders stopped (%d lines were read after the deadline by feeders waiting for a core)",
				dropped, sent-got-dropped, float64(st.drain.Microseconds())/1000, st.late.Load())},
		{Name: name + "lines stored in the transcript vs sent", Value: float64(stored), Unit: "lines",
			Peer: "sent", PeerValue: float64(sent), Ratio: ratio(float64(stored), float64(sent)),
			Goal: "= sent (0 lost)", Met: sent > 0 && stored == sent, Measured: sent > 0,
			Note: fmt.Sprintf("%d lost", sent-stored)},
		{Name: name + "lines kept in the console's all-nodes ring", Value: float64(ls.KeptAll), Unit: "lines",
			Goal: fmt.Sprintf("≤ %d (bounded)", ls.RingCap), Met: ls.KeptAll <= ls.RingCap, Measured: ls.Received > 0,
			Note: fmt.Sprintf("received %d, rotated out %d, %d over the per-node rings (≤ %d each)",
				ls.Received, ls.Dropped, ls.KeptPerNode, ls.NodeRingCap)},
	}
}

// drive runs the event loop until the producers are finished and their
// last batch has been drawn: until caughtUp says so, or a generous grace
// after they finished for a console that never catches up. Without
// caughtUp, the reader's last coalesced batch arrives within a window after
// the producers stop, and a second's grace is generous.
func drive(m tea.Model, l *loop, done <-chan struct{}, caughtUp func(tea.Model) bool, st *floodStats) tea.Model {
	var grace <-chan time.Time
	runtime.LockOSThread() // the thread's CPU time is this loop's alone
	defer runtime.UnlockOSThread()
	for {
		var msg tea.Msg
		select {
		case msg = <-l.msgs:
		case <-done:
			// Generous for a loaded machine: the queue holds up to 64Ki
			// lines, taken 8Ki a frame.
			wait := time.Second
			if caughtUp != nil {
				wait = 10 * time.Second
			}
			grace, done = time.After(wait), nil
			continue
		case <-grace:
			return m
		}
		var pressed time.Time
		if k, ok := msg.(timedKey); ok {
			pressed, msg = k.at, k.key
		}
		var cmd tea.Cmd
		c0 := threadCPU()
		m, cmd = m.Update(msg)
		v0 := time.Now()
		_ = m.View()
		end := time.Now()
		st.frameCPU = append(st.frameCPU, threadCPU()-c0)
		st.views = append(st.views, end.Sub(v0))
		if !pressed.IsZero() {
			st.keys = append(st.keys, end.Sub(pressed))
		}
		l.launch(cmd)
		if done == nil && caughtUp != nil && caughtUp(m) {
			return m
		}
	}
}

// produce starts one feeder per node. A node's output does not slow down
// because the bastion is loaded: a feeder whose ticks were late sends every
// line owed since its start at the target rate, as an SSH read would return
// them, and pushes them into the engine's queue, which never blocks.
func produce(ctx context.Context, c options, q steps.EventQueue, sent, late *atomic.Int64, tr *journal.Transcript) *sync.WaitGroup {
	start := time.Now()
	deadline := start.Add(c.FloodFor)
	var wg sync.WaitGroup
	for n := range c.FloodNodes {
		name := fmt.Sprintf("node-%02d", n)
		wg.Go(func() {
			t := time.NewTicker(frame)
			defer t.Stop()
			seq := 0
			push := func(now, upTo time.Time) int {
				owed := int(float64(c.FloodRate)*upTo.Sub(start).Seconds()) - seq
				if owed <= 0 {
					return 0
				}
				ev := steps.LogEvent{At: now, Lines: make([]steps.LogLine, owed)}
				for i := range ev.Lines {
					text := fmt.Sprintf(`{"level":"info","ts":"%s","msg":"applied entries","index":%d}`, now.Format(time.RFC3339Nano), seq)
					if seq%100 == 7 {
						text = "error: etcdserver: request timed out, retrying"
					}
					ev.Lines[i] = steps.LogLine{Node: name, At: now, Text: text}
					// As the engine's line sink: the transcript first, lossless.
					_ = tr.Line(now, name, "stdout", text)
					seq++
				}
				q.Push(ev)
				sent.Add(int64(owed))
				return owed
			}
			for now := range t.C {
				if ctx.Err() != nil {
					return
				}
				if now.After(deadline) {
					// What the node wrote before the deadline that this
					// feeder had no core to read yet: read late, not lost.
					late.Add(int64(push(now, deadline)))
					return
				}
				push(now, now)
			}
		})
	}
	return &wg
}

func pressKeys(stop <-chan struct{}, msgs chan<- tea.Msg) {
	keys := []tea.KeyPressMsg{{Code: tea.KeyTab}, {Code: tea.KeyUp}, {Code: 'e', Text: "e"}, {Code: tea.KeyDown}, {Code: 'f', Text: "f"}, {Code: 'f', Text: "f"}}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
			select {
			case msgs <- timedKey{at: time.Now(), key: keys[i%len(keys)]}:
			case <-stop:
				return
			}
		}
	}
}

func sampleHeap(stop <-chan struct{}, peak *atomic.Uint64) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// threadCPU is the calling OS thread's CPU time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func pct(d []time.Duration, p int) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[min(len(s)-1, len(s)*p/100)].Microseconds()) / 1000
}

// floodRows are the flood's figures. The latencies and the lines accepted
// are wall time: their notes give the console's own CPU per frame and the
// machine's load, which delays a frame whatever the console does.
func floodRows(c options, st *floodStats, cores float64, load0, load1 string) []Row {
	name := fmt.Sprintf("log flood %d nodes × %d lines/s, %s: ", c.FloodNodes, c.FloodRate, c.FloodFor)
	k50, k99, v99 := pct(st.keys, 50), pct(st.keys, 99), pct(st.views, 99)
	heap := float64(st.peakHeap.Load()) / (1 << 20)
	measured := len(st.keys) > 0 && len(st.views) > 0
	load := fmt.Sprintf("the console's CPU per frame (Update + View) p99 %.2f ms; load average %s before, %s after (on %d cores)",
		pct(st.frameCPU, 99), load0, load1, runtime.NumCPU())
	lines := linesRow(name, float64(st.sent.Load()), float64(c.FloodNodes*c.FloodRate)*c.FloodFor.Seconds())
	lines.Note += "; " + load
	return []Row{
		{Name: name + "key-to-frame p50", Value: k50, Unit: "ms", Measured: measured},
		{Name: name + "key-to-frame p99", Value: k99, Unit: "ms", Goal: "< 50 ms", Met: measured && k99 < 50, Measured: measured, Note: load},
		{Name: name + "View p99", Value: v99, Unit: "ms", Goal: "< 5 ms", Met: measured && v99 < 5, Measured: measured, Note: load},
		{Name: name + "CPU (model + feeders)", Value: cores, Unit: "cores", Goal: "< 1 core", Met: cores < 1, Measured: true},
		{Name: name + "peak Go heap in use", Value: heap, Unit: "MiB", Goal: "< 256 MiB", Met: heap < 256, Measured: heap > 0},
		lines,
	}
}

// linesRow compares the lines pushed into the engine's queue for the
// console with the target rate: less means the path pushed back on the
// engine (the queue never blocks, so only feeders starved of a core fall
// behind), whether the console got them is the next rows.
func linesRow(name string, sent, want float64) Row {
	return Row{Name: name + "lines accepted by the console vs sent at the target rate", Value: sent, Unit: "lines",
		Peer: "target", PeerValue: want, Ratio: ratio(sent, want), Goal: "≥ 0.95× (no back-pressure)",
		Met: ratio(sent, want) >= 0.95, Measured: sent > 0,
		Note: "pushed into the engine's queue, which never blocks; what the console received and where the lines were stored: the rows below"}
}
