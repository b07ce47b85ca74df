package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// nonblock opens a FIFO planted in the state dir without hanging; the type
// check that follows refuses it.
const nonblock = syscall.O_NONBLOCK

// runStartMark is how a run-start record reads in the file: json.Marshal
// writes fields in order and escapes every quote inside a string, so the
// text occurs only in a run-start record, never inside another's value.
var runStartMark = []byte(`"kind":"` + KindRunStart + `"`)

// scanChunk is how much of the journal one backward step reads.
const scanChunk = 1 << 20

// LastRun is the one answer to "where does the latest run start", shared
// by resume and `etcd-dr watch`: the records from the journal's last
// run-start to its end, and the byte offset of that record. The file is
// read backwards until the run-start is found, so the cost is the length
// of the last run, not of the journal (a journal of many drills is large).
// Lines after it that are not records make a *CorruptError, returned with
// the records read; a journal without a run-start has no records.
func LastRun(path string) ([]Record, int64, error) {
	off, err := lastRunStart(path)
	if err != nil || off < 0 {
		return nil, 0, err
	}
	line, err := lineNumberAt(path, off)
	if err != nil {
		return nil, 0, err
	}
	return readFrom(path, off, line)
}

// LastRunOffset is where the last run's first record starts in the file,
// found as LastRun finds it; ok is false while the journal holds no run.
func LastRunOffset(path string) (off int64, ok bool, err error) {
	off, err = lastRunStart(path)
	return max(off, 0), off >= 0, err
}

// LastRun is LastRun of this journal's file.
func (j *Journal) LastRun() ([]Record, error) {
	recs, _, err := LastRun(j.path)
	return recs, err
}

// lastRunStart is the offset of the line holding the last run-start
// record, or -1.
func lastRunStart(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, fmt.Errorf("journal: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return -1, fmt.Errorf("journal: %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return -1, fmt.Errorf("journal: %s is not a regular file (%s)", path, st.Mode().Type())
	}
	buf := make([]byte, scanChunk)
	for hi := st.Size(); hi > 0; {
		lo := max(0, hi-scanChunk)
		b := buf[:hi-lo]
		if _, err := f.ReadAt(b, lo); err != nil && !errors.Is(err, io.EOF) {
			return -1, fmt.Errorf("journal: read %s: %w", path, err)
		}
		if i := bytes.LastIndex(b, runStartMark); i >= 0 {
			return lineStart(f, lo+int64(i))
		}
		if lo == 0 {
			break
		}
		hi = lo + int64(len(runStartMark)) - 1 // a mark across the boundary is found next time
	}
	return -1, nil
}

// lineStart is the offset just after the last newline before p (0 if none).
func lineStart(f *os.File, p int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for hi := p; hi > 0; {
		lo := max(0, hi-int64(len(buf)))
		b := buf[:hi-lo]
		if _, err := f.ReadAt(b, lo); err != nil && !errors.Is(err, io.EOF) {
			return -1, fmt.Errorf("journal: read %s: %w", f.Name(), err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return lo + int64(i) + 1, nil
		}
		hi = lo
	}
	return 0, nil
}

// lineNumberAt is the 1-based number of the line starting at off, so an
// error about a bad line names the line an editor shows.
func lineNumberAt(path string, off int64) (int, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: open %s: %w", path, err)
	}
	defer f.Close()
	n := 1
	buf := make([]byte, scanChunk)
	r := io.LimitReader(f, off)
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("journal: read %s: %w", path, err)
		}
	}
}
