package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Event kinds in a node's timeline.
const (
	EvNodeUp         = "node-up"
	EvNodeDown       = "node-down"
	EvPodStart       = "pod-start"
	EvPodExit        = "pod-exit"
	EvKubeletStart   = "kubelet-start"
	EvKubeletRestart = "kubelet-restart"
	EvSSHExec        = "ssh-exec"
	EvSSHExit        = "ssh-exit"
	EvUnit           = "unit"      // systemctl or crictl through a node's shim
	EvEtcdData       = "etcd-data" // digest of a data dir right after its etcd stopped
)

// Event is one line of a node's timeline (DIR/timeline/NODE.jsonl): every
// process the lab starts or stops and every SSH command, so `lab verify` can
// prove ordering (no restore while an apiserver ran) after the fact.
type Event struct {
	Time    time.Time `json:"time"`
	Node    string    `json:"node"`
	Kind    string    `json:"kind"`
	Pod     string    `json:"pod,omitempty"`     // static pod name (etcd, kube-apiserver, ...)
	PID     int       `json:"pid,omitempty"`     // host pid
	Command string    `json:"command,omitempty"` // SSH command line or process argv
	Exit    *int      `json:"exit,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	DataDir string    `json:"dataDir,omitempty"` // etcd-data: the node path of the data dir
	Digest  string    `json:"digest,omitempty"`  // etcd-data: sha256 over names, sizes, contents
}

// timeline appends events to one JSONL file per node.
type timeline struct {
	mu    sync.Mutex
	files map[string]*os.File
	dir   string
}

func newTimeline(dir string) (*timeline, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lab timeline: %w", err)
	}
	return &timeline{dir: dir, files: map[string]*os.File{}}, nil
}

// add records e; a write error is returned to no one (the drill goes on) but
// the event is never reordered.
func (t *timeline) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.files[e.Node]
	if f == nil {
		f, err = os.OpenFile(filepath.Join(t.dir, e.Node+".jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return
		}
		t.files[e.Node] = f
	}
	_, _ = f.Write(append(b, '\n'))
}

func (t *timeline) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		_ = f.Close()
	}
	t.files = map[string]*os.File{}
}

// ReadTimeline returns every node's events of the lab in DIR, by time.
func ReadTimeline(dir string) ([]Event, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "timeline", "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("lab timeline: no %s: is this a lab dir?", filepath.Join(dir, "timeline"))
	}
	var out []Event
	for _, p := range paths {
		evs, err := readEvents(p)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

func readEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
