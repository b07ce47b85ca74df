// Package safefile opens files the operator names (a snapshot, its
// sidecar, a journal) without trusting what they are. os.Open of a FIFO
// blocks until a writer appears, forever at 3 a.m.; os.ReadFile of a link to
// /dev/zero or of a file grown to gigabytes reads until memory runs out. Here
// a file is opened without blocking, checked to be a regular file by the
// descriptor actually opened (no window between a check and the open), and
// refused with its name and what it is when it is not, or is too large.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular and ErrTooLarge are the reasons Open refuses a file (test
// with errors.Is); the errors name the file and say what to do.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("too large")
)

// Error is a refused file.
type Error struct {
	Path   string
	Reason error
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v: %s", e.Path, e.Reason, e.Detail) }
func (e *Error) Unwrap() error { return e.Reason }

// Open opens path for reading if it is a regular file (after following
// symlinks) of at most max bytes (max ≤ 0: any size). It never blocks on a
// FIFO or device. The caller closes the file.
func Open(path string, max int64) (*os.File, fs.FileInfo, error) {
	// O_NONBLOCK: opening a FIFO for reading returns at once instead of
	// waiting for a writer; a regular file ignores the flag.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &Error{path, ErrNotRegular, fmt.Sprintf("it is %s; name the file itself (a copy on disk), not a pipe, device or directory", kind(st.Mode()))}
	}
	if max > 0 && st.Size() > max {
		f.Close()
		return nil, nil, &Error{path, ErrTooLarge, fmt.Sprintf("%d bytes, more than the %d this file can hold when it is what it should be; check that it is the right file", st.Size(), max)}
	}
	return f, st, nil
}

// ReadFile is os.ReadFile through Open: a regular file of at most max
// bytes, read whole. A file that grows past max while read is refused too.
func ReadFile(path string, max int64) ([]byte, error) {
	f, _, err := Open(path, max)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := io.Reader(f)
	if max > 0 {
		r = io.LimitReader(f, max+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if max > 0 && int64(len(b)) > max {
		return nil, &Error{path, ErrTooLarge, fmt.Sprintf("it grew past %d bytes while it was read; check what writes to it", max)}
	}
	return b, nil
}

// kind names a file mode in the operator's words.
func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device (like /dev/zero)"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	}
	return "not a regular file (" + m.String() + ")"
}
