package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Transcript is the full record of what ran where: every command and every
// output line, with node, time and who. Callers redact secrets before
// writing; the transcript is never lossy (the UI may be).
type Transcript struct {
	mu   sync.Mutex
	f    *os.File
	path string
	who  string
}

// OpenTranscript creates transcript-<run>.log (0600) next to the journal,
// appending when a resumed run already has one.
func (j *Journal) OpenTranscript(run, who string) (*Transcript, error) {
	path := filepath.Join(j.dir, fmt.Sprintf(transcriptName, run))
	f, err := openPrivate(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY)
	if err != nil {
		return nil, fmt.Errorf("transcript: open %s: %w", path, err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &Transcript{f: f, path: path, who: who}, nil
}

// Path is the transcript file's path, shown in the scorecard.
func (t *Transcript) Path() string { return t.path }

// Command records a command about to run on node.
func (t *Transcript) Command(at time.Time, node, cmdline string) error {
	return t.write(at, node, "$", cmdline)
}

// Line records one output line (stream is "stdout" or "stderr").
func (t *Transcript) Line(at time.Time, node, stream, text string) error {
	return t.write(at, node, stream+"|", text)
}

// Note records an engine message (gate decisions, exit codes).
func (t *Transcript) Note(at time.Time, node, text string) error {
	return t.write(at, node, "#", text)
}

func (t *Transcript) write(at time.Time, node, mark, text string) error {
	if node == "" {
		node = "-"
	}
	// One record per line even when a tool prints a carriage return.
	text = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(text)
	line := fmt.Sprintf("%s %s %s %s %s\n", at.UTC().Format(time.RFC3339Nano), node, t.who, mark, text)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return fmt.Errorf("transcript %s: closed", t.path)
	}
	if _, err := t.f.WriteString(line); err != nil {
		return fmt.Errorf("transcript %s: %w", t.path, err)
	}
	return nil
}

// Close syncs and closes the file.
func (t *Transcript) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Sync()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.f = nil
	return err
}
