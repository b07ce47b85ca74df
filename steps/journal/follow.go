package journal

import (
	"bytes"
	"encoding/json"
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
}

// NewTail starts at the beginning of path; the file need not exist yet.
func NewTail(path string) *Tail { return &Tail{path: path} }

// NewTailAt starts at byte off of path (the start of a line).
func NewTailAt(path string, off int64) *Tail { return &Tail{path: path, off: off} }

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
		t.off, t.rest = 0, nil
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
	return strings.Split(string(data[:cut]), "\n"), nil
}

// Records returns the journal records appended since the last call, with
// Read's rule for lines that do not decode.
func (t *Tail) Records() ([]Record, error) {
	lines, err := t.Lines()
	var out []Record
	for _, l := range lines {
		var r Record
		if json.Unmarshal([]byte(strings.TrimSpace(l)), &r) == nil && r.Kind != "" {
			out = append(out, r)
		}
	}
	return out, err
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
