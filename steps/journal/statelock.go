package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stateLockName is the bastion-side lock next to the journal.
const stateLockName = "console.lock"

// StateHolder is what the bastion lock file says about the process holding
// it: enough for the operator refused by it to find that process.
type StateHolder struct {
	Who     string    `json:"who"` // user@host
	PID     int       `json:"pid"`
	TTY     string    `json:"tty,omitempty"`
	Command string    `json:"command,omitempty"`
	Since   time.Time `json:"since"`
}

// StateLock is an exclusive flock(2) on state.dir/<cluster>/console.lock,
// held for the life of the process that drives a run (console, run,
// rollback, drill). The kernel releases it when the process ends, however
// it ends, so a kill -9 never leaves it behind and no flag is needed (or
// offered) to take a live one: two consoles on one run — one forgotten in
// a detached tmux — is exactly what it exists to refuse.
type StateLock struct {
	f   *os.File
	dir string
}

// StateLockHeldError is the refusal: another live process holds the lock.
type StateLockHeldError struct {
	Path string
	By   StateHolder
	Raw  string // the file's text when it does not decode
}

func (e *StateLockHeldError) Error() string {
	who := fmt.Sprintf("%s, pid %d", e.By.Who, e.By.PID)
	if e.By.TTY != "" {
		who += ", tty " + e.By.TTY
	}
	if e.By.Command != "" {
		who += ", `" + e.By.Command + "`"
	}
	who += ", since " + e.By.Since.Format(time.RFC3339)
	if e.By.Who == "" {
		who = fmt.Sprintf("a process whose lock says %q (it is still being written, or was edited)", e.Raw)
	}
	return fmt.Sprintf("%s is held by another etcd-dr (%s), which is still running: two consoles on one run "+
		"would run the same destructive commands twice. Find that process (ps -fp %d; tmux ls; screen -ls) "+
		"and continue or quit it there. No flag takes this lock: the kernel releases it when that process ends",
		e.Path, who, e.By.PID)
}

// LockState takes the bastion lock of cluster under stateDir, without
// waiting: a second process is refused at once with a *StateLockHeldError
// naming the holder. h is written into the file once the lock is held.
func LockState(stateDir, cluster string, h StateHolder) (*StateLock, error) {
	dir, err := makeDir(stateDir, cluster)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, stateLockName)
	f, err := openPrivate(path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("journal: open the state lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, heldBy(f, path)
		}
		return nil, fmt.Errorf("journal: lock %s: %w", path, err)
	}
	if err := writeHolder(f, h); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal: write the holder into %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &StateLock{f: f, dir: dir}, nil
}

func heldBy(f *os.File, path string) error {
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return fmt.Errorf("journal: %s is locked by another process; reading its holder: %w", path, err)
	}
	raw := strings.TrimSpace(string(b))
	var h StateHolder
	if json.Unmarshal([]byte(raw), &h) != nil {
		h = StateHolder{}
	}
	return &StateLockHeldError{Path: path, By: h, Raw: raw}
}

func writeHolder(f *os.File, h StateHolder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return f.Sync()
}

// Dir is the directory the lock guards (state.dir/<cluster>).
func (l *StateLock) Dir() string { return l.dir }

// Held reports whether l is a lock still held (not nil, not closed).
func (l *StateLock) Held() bool { return l != nil && l.f != nil }

// Close releases the lock. The file stays: removing it would let a third
// process lock a new inode while a second still waits on the old one.
func (l *StateLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ThisProcess is the holder for the running process: who, pid, its
// terminal (so a forgotten console in tmux can be found) and command line.
func ThisProcess(who string, now time.Time) StateHolder {
	return StateHolder{Who: who, PID: os.Getpid(), TTY: terminal(), Command: strings.Join(os.Args, " "), Since: now.UTC()}
}

// terminal names the first of stdin, stdout, stderr that is a terminal.
func terminal() string {
	for fd := range 3 {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
			continue
		}
		if p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil {
			return p
		}
	}
	return ""
}
