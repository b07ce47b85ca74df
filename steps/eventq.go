package steps

import (
	"sync"
	"time"
)

// maxQueuedLines bounds the log lines waiting for a slow client: about
// 1.3 s of a 50-node × 1000 lines/s flood (a few MiB), so a console whose
// thread waits for a core on a loaded bastion catches up instead of losing
// lines. It counts lines, not events: the engine sends one event per node
// per batch, and a bound in events lost lines as soon as many nodes spoke
// at once. State events are queued without bound (a few hundred per run).
const maxQueuedLines = 1 << 16

// eventQueue hands events to one client without ever blocking the engine:
// state events are always kept, log events are dropped when the client
// falls behind (the transcript file still has every line).
type eventQueue struct {
	mu      sync.Mutex
	items   []Event
	logs    int // log lines queued
	dropped int // log lines dropped
	closed  bool
	wake    chan struct{}
	out     chan Event
	done    chan struct{}
}

func newEventQueue() *eventQueue {
	q := &eventQueue{wake: make(chan struct{}, 1), out: make(chan Event), done: make(chan struct{})}
	go q.pump()
	return q
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if lossy(ev) {
		n := lossyLines(ev)
		if q.logs+n > maxQueuedLines {
			q.dropped += n
			return
		}
		q.logs += n
	}
	q.items = append(q.items, ev)
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// close lets the pump deliver what is queued, then close the channel.
func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) pump() {
	defer close(q.done)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			closed := q.closed
			q.mu.Unlock()
			if closed {
				return
			}
			<-q.wake
			continue
		}
		ev := q.items[0]
		q.items = q.items[1:]
		if lossy(ev) {
			q.logs -= lossyLines(ev)
		}
		q.mu.Unlock()
		q.out <- ev
	}
}

// lossyLines is what a lossy event counts against maxQueuedLines: its
// lines, and one for a progress report.
func lossyLines(ev Event) int {
	if l, ok := ev.(LogEvent); ok {
		return max(1, len(l.Lines))
	}
	return 1
}

// EventQueue is the engine's hand-off to its client for a producer of
// engine events outside an Engine: the flood benchmark feeds the console
// through it, cleaned and queued as Engine.emit does.
type EventQueue struct{ q *eventQueue }

// NewEventQueue starts a queue; Close it when the producer is done.
func NewEventQueue() EventQueue { return EventQueue{newEventQueue()} }

// Push queues ev without blocking, as the engine emits it.
func (q EventQueue) Push(ev Event) { q.q.push(cleanEvent(ev)) }

// Close delivers what is queued, then closes Events.
func (q EventQueue) Close() { q.q.close() }

// Events is the stream for the client, as Engine.Events.
func (q EventQueue) Events() <-chan Event { return q.q.out }

// DroppedLines is how many log lines a slow client did not get.
func (q EventQueue) DroppedLines() int {
	q.q.mu.Lock()
	defer q.q.mu.Unlock()
	return q.q.dropped
}

// logBatcher coalesces output lines per node so a chatty etcdutl does not
// send one event (and one UI redraw) per line.
type logBatcher struct {
	mu      sync.Mutex
	pending map[string][]LogLine
	order   []string
}

func (b *logBatcher) add(l LogLine) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pending == nil {
		b.pending = map[string][]LogLine{}
	}
	if _, ok := b.pending[l.Node]; !ok {
		b.order = append(b.order, l.Node)
	}
	b.pending[l.Node] = append(b.pending[l.Node], l)
}

// flush returns one LogEvent per node with lines waiting.
func (b *logBatcher) flush(at time.Time) []LogEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []LogEvent
	for _, n := range b.order {
		out = append(out, LogEvent{At: at, Lines: b.pending[n]})
	}
	b.pending, b.order = nil, nil
	return out
}

// lossy events may be dropped for a slow client: log lines (the
// transcript has them all) and a progress report between the start and
// the end of its work (the next one says more).
func lossy(ev Event) bool {
	switch e := ev.(type) {
	case LogEvent:
		return true
	case ProgressEvent:
		return !e.End && !e.At.Equal(e.Started)
	}
	return false
}
