package journal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// journalWith writes lines (each ended by a newline) as a journal file.
func journalWith(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func rec(t *testing.T, r Record) string {
	t.Helper()
	r.At = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Issue 15 item 11: a journal is read whole or refused with the line that
// is wrong; only a line torn by a crash is skipped.
func TestAJournalIsReadWholeOrRefusedWithTheLineThatIsWrong(t *testing.T) {
	start := rec(t, Record{Run: "r1", Kind: KindRunStart})
	end := rec(t, Record{Run: "r1", Kind: KindRunEnd, State: "done"})
	huge := rec(t, Record{Run: "r1", Kind: KindValues, Values: json.RawMessage(`{"snapshotDiff":["` + strings.Repeat("k", 17<<20) + `"]}`)})
	for _, tc := range []struct {
		name    string
		lines   []string
		records int
		badLine int // 0: the journal reads whole
	}{
		{"a 17 MiB record reads like any other", []string{start, huge, end}, 3, 0},
		{"a line torn by a crash, ended by the next open, is skipped", []string{start, `{"at":"2026-11-24T03:00:00Z","run":"r1","ki`, end}, 2, 0},
		{"a garbage line mid-journal is reported with its number", []string{start, "#!garbage", end}, 2, 2},
		{"a record followed by text is reported", []string{start, end + " trailing"}, 1, 2},
		{"a JSON line that is not a record is reported", []string{start, `{"at":"2026-11-24T03:00:00Z"}`, end}, 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := journalWith(t, tc.lines...)
			for name, read := range map[string]func() ([]Record, error){
				"ReadFile": func() ([]Record, error) { return ReadFile(path) },
				"LastRun":  func() ([]Record, error) { r, _, err := LastRun(path); return r, err },
			} {
				recs, err := read()
				if len(recs) != tc.records {
					t.Errorf("%s read %d records, want %d", name, len(recs), tc.records)
				}
				var ce *CorruptError
				switch {
				case tc.badLine == 0 && err != nil:
					t.Errorf("%s: %v", name, err)
				case tc.badLine != 0 && !errors.As(err, &ce):
					t.Errorf("%s = %v, want a *CorruptError", name, err)
				case tc.badLine != 0 && (len(ce.Bad) != 1 || ce.Bad[0].Line != tc.badLine || !strings.Contains(err.Error(), fmt.Sprintf("line %d", tc.badLine))):
					t.Errorf("%s reported %v, want line %d", name, err, tc.badLine)
				}
			}
		})
	}
}

// A line over the bound is consumed and reported, never held in memory
// (the bound is MaxRecord, 64 MiB; 1 KiB here to keep the test small).
func TestALineOverTheBoundIsReportedWithItsNumber(t *testing.T) {
	start := rec(t, Record{Run: "r1", Kind: KindRunStart})
	text := start + "\n" + `{"why":"` + strings.Repeat("z", 4<<10) + `"}` + "\n" + start + "\n"
	recs, err := readLines(bufio.NewReaderSize(strings.NewReader(text), 16), 1, 1<<10)
	var ce *CorruptError
	if !errors.As(err, &ce) || len(ce.Bad) != 1 || ce.Bad[0].Line != 2 || !strings.Contains(ce.Bad[0].Why, "longer than 1024 bytes") {
		t.Fatalf("readLines = %v, want line 2 reported as too long", err)
	}
	if len(recs) != 2 {
		t.Errorf("read %d records around the long line, want 2", len(recs))
	}
}

// LastRun, the scan resume and watch share, finds the last run at the end
// of a long journal and names lines by their number in the whole file.
func TestLastRunFindsTheLastRunAtTheEndOfALongJournal(t *testing.T) {
	var lines []string
	for i := range 3 {
		run := fmt.Sprintf("old-%d", i)
		lines = append(lines, rec(t, Record{Run: run, Kind: KindRunStart}))
		for range 3000 { // ~ 1 MiB per run: the scan crosses chunk boundaries
			lines = append(lines, rec(t, Record{Run: run, Kind: KindCheck, Why: strings.Repeat("y", 300)}))
		}
		lines = append(lines, rec(t, Record{Run: run, Kind: KindRunEnd, State: "done"}))
	}
	first := len(lines) + 1
	lines = append(lines, rec(t, Record{Run: "live", Kind: KindRunStart}), "garbage", rec(t, Record{Run: "live", Kind: KindStep, State: "running"}))
	path := journalWith(t, lines...)
	recs, off, err := LastRun(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Bad[0].Line != first+1 {
		t.Fatalf("LastRun error = %v, want line %d reported", err, first+1)
	}
	if len(recs) != 2 || recs[0].Run != "live" || recs[0].Kind != KindRunStart {
		t.Fatalf("LastRun = %+v, want the live run's two records", recs)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b[off:]), lines[first-1]) {
		t.Errorf("offset %d is not the live run's run-start line", off)
	}
}

// Journal and transcript never follow a symlink planted in the state dir,
// and an existing file's loose mode is tightened to 0600.
func TestJournalAndTranscriptNeverFollowSymlinksAndAreTightenedTo0600(t *testing.T) {
	t.Run("a symlinked journal is refused and its target untouched", func(t *testing.T) {
		state := t.TempDir()
		target := filepath.Join(t.TempDir(), "elsewhere")
		os.WriteFile(target, []byte("keep\n"), 0o644)
		os.MkdirAll(filepath.Join(state, "c"), 0o700)
		os.Symlink(target, filepath.Join(state, "c", "journal.jsonl"))
		if j, err := Open(state, "c"); err == nil {
			j.Close()
			t.Fatal("Open followed a symlinked journal")
		} else if !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("the refusal does not say why: %v", err)
		}
		if b, _ := os.ReadFile(target); string(b) != "keep\n" {
			t.Errorf("the symlink's target was written: %q", b)
		}
	})
	t.Run("a symlinked transcript is refused", func(t *testing.T) {
		state := t.TempDir()
		j, err := Open(state, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		target := filepath.Join(t.TempDir(), "elsewhere")
		os.Symlink(target, TranscriptPath(j.DirPath(), "r1"))
		if tr, err := j.OpenTranscript("r1", "ops@bastion"); err == nil {
			tr.Close()
			t.Fatal("OpenTranscript followed a symlink")
		}
		if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the symlink's target was created: %v", err)
		}
	})
	t.Run("existing files with a loose mode are tightened", func(t *testing.T) {
		state := t.TempDir()
		dir := filepath.Join(state, "c")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "journal.jsonl"), nil, 0o644)
		os.WriteFile(TranscriptPath(dir, "r1"), nil, 0o666)
		j, err := Open(state, "c")
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		tr, err := j.OpenTranscript("r1", "ops@bastion")
		if err != nil {
			t.Fatal(err)
		}
		tr.Close()
		for _, p := range []string{j.Path(), tr.Path()} {
			if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
			}
		}
	})
}

// SetAside keeps the old journal under a new name and begins an empty one.
func TestSetAsideKeepsTheOldJournalAndBeginsANewOne(t *testing.T) {
	j, err := Open(t.TempDir(), "c")
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Append(Record{Run: "r1", Kind: KindRunStart})
	kept, err := j.SetAside(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	j.Append(Record{Run: "r2", Kind: KindRunStart})
	old, err := ReadFile(kept)
	if err != nil || len(old) != 1 || old[0].Run != "r1" {
		t.Errorf("kept journal %s = %+v, %v", kept, old, err)
	}
	now, err := j.Records()
	if err != nil || len(now) != 1 || now[0].Run != "r2" {
		t.Errorf("new journal = %+v, %v", now, err)
	}
}
