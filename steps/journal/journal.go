// Package journal is the engine's memory across crashes: an append-only JSONL
// file, one fsync per record, under state.dir/<cluster>/. A console killed at
// 3 a.m. resumes from it with the same decided values (revision bump, token,
// data dir), so two halves of one restore never disagree.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Record kinds, in the operator's words.
const (
	KindRunStart   = "run-start" // Run, Who
	KindValues     = "values"    // Values decided in preflight (resume reuses them)
	KindGate       = "gate"      // Gate decision
	KindGateOpen   = "gate-open" // a gate put in front of the operator: Why its title, Offer the gate
	KindCheck      = "check"     // one post-condition check: Node, Check, State ok/failed, Why its detail
	KindStep       = "step"      // Step state transition
	KindNode       = "node"      // one node's result within a step
	KindLock       = "lock"      // lock taken, refused, released, force-removed
	KindRunEnd     = "run-end"   // State: done, failed, aborted
	KindProgress   = "progress"  // long work on Node: State started, 25%, 50%, 75%, done or failed; Why its figures
	fileName       = "journal.jsonl"
	transcriptName = "transcript-%s.log"
)

// Record is one line of the journal. Fields are optional by kind; the file is
// meant to be read by people with jq as well as by the engine.
type Record struct {
	At    time.Time `json:"at"`
	Run   string    `json:"run"`
	Kind  string    `json:"kind"`
	Who   string    `json:"who,omitempty"`
	Step  string    `json:"step,omitempty"`
	Node  string    `json:"node,omitempty"`
	State string    `json:"state,omitempty"`
	Why   string    `json:"why,omitempty"`
	Gate  *Gate     `json:"gate,omitempty"`
	// Check names a post-condition check ("no kube-apiserver process");
	// Component and Proves say what it proved (steps.Fact), empty when it
	// proves nothing about a component.
	Check     string `json:"check,omitempty"`
	Component string `json:"component,omitempty"`
	Proves    string `json:"proves,omitempty"`
	// Runbook is the run's steps as announced (steps.RunbookEvent), on a
	// run-start record, as JSON: watch lists the steps the run will take.
	Runbook json.RawMessage `json:"runbook,omitempty"`
	// Offer is the gate shown (commands, facts, choices), opaque here, as
	// JSON: `etcd-dr watch` shows the same gate as the operator's console.
	Offer json.RawMessage `json:"offer,omitempty"`
	// Ms is a duration in milliseconds (a node's command, a step).
	Ms int64 `json:"ms,omitempty"`
	// Values is the engine's decided values, opaque here, as JSON.
	Values json.RawMessage `json:"values,omitempty"`
	// Progress is a progress record's typed event (steps.ProgressEvent),
	// opaque here, as JSON: `etcd-dr watch` replays it.
	Progress json.RawMessage `json:"progress,omitempty"`
}

// Gate records a gate decision. It says whether the typed name matched,
// never what was typed: a mistyped name can be a pasted secret.
type Gate struct {
	Proceed   bool   `json:"proceed"`
	Choice    string `json:"choice,omitempty"`
	NeedsName bool   `json:"needsName,omitempty"`
	NameOK    bool   `json:"nameOK,omitempty"`
}

// Journal appends records to journal.jsonl. Safe for concurrent use.
type Journal struct {
	mu   sync.Mutex
	f    *os.File
	dir  string
	path string
}

// Dir returns state.dir/<cluster>, the directory holding a cluster's journal.
func Dir(stateDir, cluster string) string { return filepath.Join(stateDir, cluster) }

// Open opens (creating 0700/0600) the journal of cluster under stateDir.
func Open(stateDir, cluster string) (*Journal, error) {
	dir, err := makeDir(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, fileName)
	f, err := openPrivate(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	if err := terminateTornLine(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return &Journal{f: f, dir: dir, path: path}, nil
}

// makeDir creates state.dir/<cluster> (0700) and tightens an existing one.
func makeDir(stateDir, cluster string) (string, error) {
	if cluster == "" || cluster != filepath.Base(cluster) || cluster == "." || cluster == ".." {
		return "", fmt.Errorf("journal: cluster name %q cannot name a directory", cluster)
	}
	dir := Dir(stateDir, cluster)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("journal: create %s: %w (check state.dir in the cluster file)", dir, err)
	}
	// MkdirAll keeps an existing directory's mode; the journal names nodes and
	// paths of a production cluster, so tighten it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("journal: chmod %s: %w", dir, err)
	}
	return dir, nil
}

// openPrivate opens a file of the state dir never through a symlink (one
// planted there would make the journal, the transcript or the lock write
// wherever it points) and tightens an existing file to 0600: it names a
// production cluster's nodes and paths.
func openPrivate(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; etcd-dr never follows one in its state dir (remove it): %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	if err == nil && st.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// syncDir makes a file just created in dir survive a crash: fsync of the
// file alone does not persist its directory entry.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: open %s to fsync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", dir, err)
	}
	return nil
}

// terminateTornLine ends a last line cut by a crash with a newline, so the
// next record starts on a line of its own and Read can skip the torn one.
// Only the last byte decides it: a journal of many drills is large, and
// reading all of it here made opening it cost its whole size in memory.
func terminateTornLine(f *os.File, path string) error {
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", path, err)
	}
	defer r.Close()
	st, err := r.Stat()
	if err != nil {
		return fmt.Errorf("journal: read %s: %w", path, err)
	}
	if st.Size() == 0 {
		return nil
	}
	last := make([]byte, 1)
	if _, err := r.ReadAt(last, st.Size()-1); err != nil {
		return fmt.Errorf("journal: read %s: %w", path, err)
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := f.Write([]byte("\n")); err != nil {
		return fmt.Errorf("journal: repair torn line in %s: %w", path, err)
	}
	return f.Sync()
}

// Path is the journal file's path.
func (j *Journal) Path() string { return j.path }

// DirPath is the directory holding the journal and transcripts.
func (j *Journal) DirPath() string { return j.dir }

// Append writes r as one line and fsyncs before returning: a record the engine
// acted on is on disk before the action starts.
func (j *Journal) Append(r Record) error {
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: encode %s record: %w", r.Kind, err)
	}
	b = append(b, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal: closed")
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal: append to %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", j.path, err)
	}
	return nil
}

// Records reads back every complete record of this journal.
func (j *Journal) Records() ([]Record, error) { return ReadFile(j.path) }

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// SetAside renames the journal file to journal-<time>.jsonl (kept, never
// removed) and begins an empty one: how a new run starts past a journal
// that cannot be read whole. It returns the kept file's path.
func (j *Journal) SetAside(now time.Time) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return "", errors.New("journal: closed")
	}
	kept := filepath.Join(j.dir, "journal-"+now.UTC().Format("20060102T150405.000000000Z")+".jsonl")
	if err := os.Link(j.path, kept); err != nil { // never replaces an existing file
		return "", fmt.Errorf("journal: keep %s as %s: %w", j.path, kept, err)
	}
	f, err := openPrivate(j.path+".new", os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND)
	if err != nil {
		return "", fmt.Errorf("journal: begin a new journal: %w", err)
	}
	if err := os.Rename(j.path+".new", j.path); err != nil {
		f.Close()
		return "", fmt.Errorf("journal: begin a new journal: %w", err)
	}
	if err := syncDir(j.dir); err != nil {
		f.Close()
		return "", err
	}
	j.f.Close()
	j.f = f
	return kept, nil
}

// libraryLogName is where what libraries log on their own (client-go,
// through klog) is kept: next to the journal, off the operator's terminal.
const libraryLogName = "library.log"

// OpenLibraryLog opens (creating 0600, appending) library.log next to the
// journal, never through a symlink, like the journal itself.
func (j *Journal) OpenLibraryLog() (*os.File, error) {
	path := filepath.Join(j.dir, libraryLogName)
	f, err := openPrivate(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", path, err)
	}
	return f, nil
}
