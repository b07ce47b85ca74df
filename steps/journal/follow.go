package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Tail reads a file that another process appends to (the journal or a
// transcript), one complete line at a time. It keeps its place between
// calls and never returns a line still being written: `etcd-dr watch`
// polls it while the operator's console writes.
type Tail struct {
	path string
	off  int64
	rest []byte // a line not yet ended by '\n'
	line int    // the 1-based number of the next line returned
}

// NewTail starts at the beginning of path; the file need not exist yet.
func NewTail(path string) *Tail { return &Tail{path: path, line: 1} }

// NewTailAt starts at byte off of path (the start of a line).
func NewTailAt(path string, off int64) *Tail { return &Tail{path: path, off: off, line: 1} }

// NewTailAtLine starts at byte off of path, the start of line number line
// (1-based), so the lines it finds wrong are named as an editor shows them.
func NewTailAtLine(path string, off int64, line int) *Tail {
	return &Tail{path: path, off: off, line: line}
}

// LineAt is the 1-based number of the line starting at byte off of path.
func LineAt(path string, off int64) (int, error) { return lineNumberAt(path, off) }

// maxTailRead bounds one call's read, so a watcher that starts late on a
// long transcript catches up in steps the console can draw between.
const maxTailRead = 4 << 20

// Lines returns the complete lines appended since the last call. A missing
// file has no lines yet; a file shorter than what was read (replaced or
// truncated) is read again from its start.
func (t *Tail) Lines() ([]string, error) {
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", t.path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", t.path, err)
	}
	if st.Size() < t.off {
		t.off, t.rest, t.line = 0, nil, 1
	}
	buf := make([]byte, min(st.Size()-t.off, maxTailRead))
	n, err := f.ReadAt(buf, t.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("follow %s: %w", t.path, err)
	}
	t.off += int64(n)
	data := append(t.rest, buf[:n]...)
	cut := bytes.LastIndexByte(data, '\n')
	if cut < 0 {
		t.rest = data
		return nil, nil
	}
	t.rest = append([]byte(nil), data[cut+1:]...)
	lines := strings.Split(string(data[:cut]), "\n")
	t.line += len(lines)
	return lines, nil
}

// Records returns the journal records appended since the last call; lines
// that are not records are left out (Checked names them).
func (t *Tail) Records() ([]Record, error) {
	recs, _, err := t.Checked()
	return recs, err
}

// Checked returns the journal records appended since the last call and,
// with Read's rule, the lines that are not records: a reader that shows
// the run (`etcd-dr watch`) must say its picture has a hole, never
// pretend the journal is whole. A line torn by a crash is no hole.
func (t *Tail) Checked() ([]Record, []BadLine, error) {
	first := t.line
	lines, err := t.Lines()
	var out []Record
	var bad []BadLine
	for i, l := range lines {
		rec, why := decodeLine([]byte(l))
		switch {
		case why != "":
			bad = append(bad, BadLine{Line: first + i, Why: why})
		case rec != nil:
			out = append(out, *rec)
		}
	}
	return out, bad, err
}

// TranscriptPath is where run's transcript lives, next to the journal.
func TranscriptPath(dir, run string) string {
	return filepath.Join(dir, fmt.Sprintf(transcriptName, run))
}

// Transcript line marks, as written by Command, Line and Note.
const (
	MarkCommand = "$"
	MarkStdout  = "stdout|"
	MarkStderr  = "stderr|"
	MarkNote    = "#"
)

// TranscriptLine is one parsed line of a transcript.
type TranscriptLine struct {
	At   time.Time
	Node string // "-" for the engine's own notes
	Who  string
	Mark string // MarkCommand, MarkStdout, MarkStderr or MarkNote
	Text string // with "\n" and "\r" escaped as written
}

// ParseTranscriptLine reads a line written by Transcript. ok is false for a
// line that is not one (a torn tail, a hand edit).
func ParseTranscriptLine(s string) (TranscriptLine, bool) {
	f := strings.SplitN(s, " ", 5)
	if len(f) < 4 {
		return TranscriptLine{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, f[0])
	if err != nil {
		return TranscriptLine{}, false
	}
	switch f[3] {
	case MarkCommand, MarkStdout, MarkStderr, MarkNote:
	default:
		return TranscriptLine{}, false
	}
	l := TranscriptLine{At: at, Node: f[1], Who: f[2], Mark: f[3]}
	if len(f) == 5 {
		l.Text = f[4]
	}
	return l, true
}

// FilePath is the journal file of cluster under stateDir, for readers that
// must not create it (etcd-dr watch).
func FilePath(stateDir, cluster string) string {
	return filepath.Join(Dir(stateDir, cluster), fileName)
}
