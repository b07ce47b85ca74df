package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// MaxRecord bounds one journal line. Records are small (a 17 MiB one was a
// huge snapshot diff); a line beyond this is reported, never read whole
// into memory.
const MaxRecord = 64 << 20

// BadLine is a journal line that is not a record.
type BadLine struct {
	Line int    // 1-based line number in the file
	Why  string // what is wrong with it
}

// CorruptError says which lines of a journal are not records. A run is
// never resumed from such a journal: what those lines said (a step done, a
// value decided) would be silently missing from the resume.
type CorruptError struct {
	Path string
	Bad  []BadLine
}

func (e *CorruptError) Error() string {
	var parts []string
	for i, b := range e.Bad {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(e.Bad)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("line %d: %s", b.Line, b.Why))
	}
	return fmt.Sprintf("%s cannot be read whole (%s)", e.Path, strings.Join(parts, "; "))
}

// ReadFile reads a journal file; a missing file is an empty journal. Lines
// that are not records make a *CorruptError, returned with every record
// that was read.
func ReadFile(path string) ([]Record, error) {
	recs, _, err := readFrom(path, 0, 1)
	return recs, err
}

// Read decodes the records of r. A line cut short by a crash mid-write is
// skipped: Append fsyncs before the engine acts, so the action it announced
// never started. Any other line that is not a record is a *CorruptError
// (with Path empty), returned with every record that was read.
func Read(r io.Reader) ([]Record, error) {
	return readLines(bufio.NewReaderSize(r, 64<<10), 1, MaxRecord)
}

func readFrom(path string, off int64, line int) ([]Record, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonblock, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("journal: open %s: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("journal: %s is not a regular file (%s)", path, st.Mode().Type())
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("journal: %s: %w", path, err)
	}
	recs, err := readLines(bufio.NewReaderSize(f, 64<<10), line, MaxRecord)
	var ce *CorruptError
	if errors.As(err, &ce) {
		ce.Path = path
		return recs, off, ce
	}
	if err != nil {
		return recs, off, fmt.Errorf("journal: %s: %w", path, err)
	}
	return recs, off, nil
}

func readLines(br *bufio.Reader, first, limit int) ([]Record, error) {
	var out []Record
	var bad []BadLine
	for n := first; ; n++ {
		line, tooLong, err := readLine(br, limit)
		if err != nil && !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("read line %d: %w", n, err)
		}
		if tooLong {
			bad = append(bad, BadLine{Line: n, Why: fmt.Sprintf("longer than %d bytes", limit)})
		} else if rec, why := decodeLine(line); why != "" {
			bad = append(bad, BadLine{Line: n, Why: why})
		} else if rec != nil {
			out = append(out, *rec)
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if len(bad) > 0 {
		return out, &CorruptError{Bad: bad}
	}
	return out, nil
}

// readLine reads one line without its newline; a line over limit is
// consumed and reported as tooLong instead of being held in memory.
func readLine(br *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > limit+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
	}
}

// decodeLine decodes one line: nil for a blank line or one torn by a crash
// (a record cut short), why for a line that is not a record.
func decodeLine(line []byte) (*Record, string) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, ""
	}
	var rec Record
	dec := json.NewDecoder(bytes.NewReader(line))
	err := dec.Decode(&rec)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && line[0] == '{':
		return nil, "" // torn by a crash: the action it announced never started
	case err != nil:
		return nil, "not a journal record: " + err.Error()
	case dec.InputOffset() != int64(len(line)):
		return nil, "not a journal record: text after the record"
	case rec.Kind == "":
		return nil, "not a journal record: no kind"
	}
	return &rec, ""
}
