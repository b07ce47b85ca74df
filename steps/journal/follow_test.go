package journal

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestTailReturnsEachCompleteLineOnce(t *testing.T) {
	tests := []struct {
		name   string
		writes []string // appended before each call
		want   [][]string
	}{
		{"a missing file has no lines yet", nil, [][]string{nil}},
		{"lines come once, in order", []string{"a\nb\n", "c\n"}, [][]string{{"a", "b"}, {"c"}}},
		{"a line being written waits for its end", []string{"a\nb", "c\n"}, [][]string{{"a"}, {"bc"}}},
		{"nothing new is nothing", []string{"a\n", ""}, [][]string{{"a"}, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			tail := NewTail(path)
			for i, want := range tc.want {
				if i < len(tc.writes) {
					appendTo(t, path, tc.writes[i])
				}
				got, err := tail.Lines()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("call %d: lines %q, want %q", i, got, want)
				}
			}
		})
	}
}

func TestTailStartsAgainOnAReplacedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.jsonl")
	tail := NewTail(path)
	appendTo(t, path, "first run, a long line\n")
	if _, err := tail.Lines(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := tail.Lines()
	if err != nil || !slices.Equal(got, []string{"new"}) {
		t.Fatalf("after the file was replaced: %q, %v; want [new]", got, err)
	}
}

func TestTailFollowsTheJournalAsTheEngineWritesIt(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, "prod-eu1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	tail := NewTail(j.Path())
	mustAppend(t, j, Record{Run: "r1", Kind: KindRunStart, Who: "sre@bastion"})
	mustAppend(t, j, Record{Run: "r1", Kind: KindStep, Step: "preflight", State: "running"})
	recs, err := tail.Records()
	if err != nil || len(recs) != 2 || recs[1].State != "running" {
		t.Fatalf("records %+v, %v; want run-start and a running step", recs, err)
	}
	mustAppend(t, j, Record{Run: "r1", Kind: KindStep, Step: "preflight", State: "done"})
	if recs, _ = tail.Records(); len(recs) != 1 || recs[0].State != "done" {
		t.Fatalf("second read %+v, want only the new done record", recs)
	}
}

func TestTranscriptLinesParseBack(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir, "prod-eu1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	tr, err := j.OpenTranscript("r1", "sre@bastion")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 14, 3, 0, 0, 5, time.UTC)
	_ = tr.Command(at, "cp-1", "sudo -n -- true")
	_ = tr.Line(at, "cp-1", "stderr", "two words\nand a newline")
	_ = tr.Note(at, "", "exit 0 after 12ms")
	tr.Close()
	lines, err := NewTail(TranscriptPath(j.DirPath(), "r1")).Lines()
	if err != nil {
		t.Fatal(err)
	}
	want := []TranscriptLine{
		{At: at, Node: "cp-1", Who: "sre@bastion", Mark: MarkCommand, Text: "sudo -n -- true"},
		{At: at, Node: "cp-1", Who: "sre@bastion", Mark: MarkStderr, Text: `two words\nand a newline`},
		{At: at, Node: "-", Who: "sre@bastion", Mark: MarkNote, Text: "exit 0 after 12ms"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %q", len(lines), len(want), lines)
	}
	for i, l := range lines {
		got, ok := ParseTranscriptLine(l)
		if !ok || got != want[i] {
			t.Errorf("line %d = %+v (ok %v), want %+v", i, got, ok, want[i])
		}
	}
	if _, ok := ParseTranscriptLine("2026-03-14T03:00:00Z cp-1 sre@bastion ? hand edit"); ok {
		t.Error("a line with an unknown mark parsed")
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func mustAppend(t *testing.T, j *Journal, r Record) {
	t.Helper()
	if err := j.Append(r); err != nil {
		t.Fatal(err)
	}
}
