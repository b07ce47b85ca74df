package steps

import (
	"sync"
	"time"
)

// maxQueuedLogs bounds the log events waiting for a slow client; state
// events are queued without bound (there are a few hundred per run).
const maxQueuedLogs = 256

// eventQueue hands events to one client without ever blocking the engine:
// state events are always kept, log events are dropped when the client
// falls behind (the transcript file still has every line).
type eventQueue struct {
	mu      sync.Mutex
	items   []Event
	logs    int
	dropped int
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
		if q.logs >= maxQueuedLogs {
			q.dropped++
			return
		}
		q.logs++
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
			q.logs--
		}
		q.mu.Unlock()
		q.out <- ev
	}
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
