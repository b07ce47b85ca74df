package nodes

import (
	"bytes"
	"strconv"
	"sync"
	"time"
)

// maxLine splits a line that never ends (a progress bar, binary output) so
// it still streams and memory stays bounded.
const maxLine = 64 << 10

// pidMarker and the command's nonce start the stderr line of every wrapped
// command that names the remote process group to signal when the command
// must end (see wrap).
const pidMarker = "etcd-dr-pid "

// lineWriter cuts one stream of a command's output into Lines for the
// callback and keeps up to MaxCollect bytes for the Result. On stderr it
// takes the wrapper's pid line out of the output.
type lineWriter struct {
	node   string
	stream Stream
	emit   func(Line) // may be nil
	emitMu *sync.Mutex

	mu      sync.Mutex // Write runs on the SSH library's goroutine
	partial []byte
	collect bytes.Buffer
	pidLine []byte        // stderr of a wrapped command: the pid line's start, until seen
	pid     int           // set once, before pidSeen is closed
	pidSeen chan struct{} // closed when the pid line has been read
}

// newLineWriter cuts one stream; pidNonce, when set, is the wrapped
// command's nonce, and the first line starting with the marker and it is
// the pid line (taken out of the output).
func newLineWriter(node string, s Stream, emit func(Line), emitMu *sync.Mutex, pidNonce string) *lineWriter {
	w := &lineWriter{node: node, stream: s, emit: emit, emitMu: emitMu, pidSeen: make(chan struct{})}
	if pidNonce != "" {
		w.pidLine = []byte(pidMarker + pidNonce + " ")
	}
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			if len(w.partial) >= maxLine {
				w.line(w.partial[:maxLine], false)
				w.partial = append(w.partial[:0], w.partial[maxLine:]...)
				continue
			}
			return len(p), nil
		}
		w.line(w.partial[:i+1], true)
		w.partial = append(w.partial[:0], w.partial[i+1:]...)
	}
}

// line handles one complete line (with its newline when ended).
func (w *lineWriter) line(raw []byte, ended bool) {
	if w.pidLine != nil {
		if rest, ok := bytes.CutPrefix(raw, w.pidLine); ok && ended {
			w.pidLine = nil
			w.pid, _ = strconv.Atoi(string(bytes.TrimSpace(rest)))
			if w.pid > 0 {
				close(w.pidSeen)
			}
			return
		}
	}
	if room := MaxCollect - w.collect.Len(); room > 0 {
		w.collect.Write(raw[:min(room, len(raw))])
	}
	if w.emit == nil {
		return
	}
	text := raw
	if ended {
		text = bytes.TrimSuffix(bytes.TrimSuffix(text, []byte{'\n'}), []byte{'\r'})
	}
	l := Line{Node: w.node, Stream: w.stream, Time: time.Now(), Text: string(text)}
	w.emitMu.Lock()
	defer w.emitMu.Unlock()
	w.emit(l)
}

// finish emits an unterminated last line and returns what was collected.
func (w *lineWriter) finish() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.line(w.partial, false)
		w.partial = w.partial[:0]
	}
	return w.collect.String()
}

// remotePID is the wrapped command's process group, 0 if not known yet.
func (w *lineWriter) remotePID() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pid
}
