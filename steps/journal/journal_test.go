package journal

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	state := t.TempDir()
	j, err := Open(state, "prod-eu1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	for path, want := range map[string]os.FileMode{
		filepath.Join(state, "prod-eu1"):                  0o700,
		filepath.Join(state, "prod-eu1", "journal.jsonl"): 0o600,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %v, want %v", path, got, want)
		}
	}
}

func TestOpenRefusesClusterNamesThatEscapeTheStateDir(t *testing.T) {
	for _, name := range []string{"", ".", "..", "../etc", "a/b"} {
		if j, err := Open(t.TempDir(), name); err == nil {
			j.Close()
			t.Errorf("Open accepted cluster name %q", name)
		}
	}
}

func TestRecordsRoundTripAcrossReopen(t *testing.T) {
	state := t.TempDir()
	j, err := Open(state, "c")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	want := []Record{
		{At: at, Run: "r1", Kind: KindRunStart, Who: "ops@bastion"},
		{At: at, Run: "r1", Kind: KindValues, Values: json.RawMessage(`{"bump":1000}`)},
		{At: at, Run: "r1", Kind: KindGate, Step: "restore-etcd", Gate: &Gate{Proceed: true, NeedsName: true, NameOK: false}},
	}
	for _, r := range want[:2] {
		if err := j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	j, err = Open(state, "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	if err := j.Append(want[2]); err != nil {
		t.Fatal(err)
	}
	got, err := j.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	if string(got[1].Values) != `{"bump":1000}` || got[2].Gate == nil || got[2].Gate.NameOK {
		t.Errorf("records did not round-trip: %+v", got)
	}
}

func TestTornLastLineIsSkippedAndTheNextRecordStartsOnItsOwnLine(t *testing.T) {
	state := t.TempDir()
	j, err := Open(state, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(Record{Run: "r1", Kind: KindRunStart}); err != nil {
		t.Fatal(err)
	}
	path := j.Path()
	j.Close()
	// A crash mid-write: half a record, no newline.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"at":"2026-11-24T03:00:00Z","run":"r1","kind":"st`)
	f.Close()

	j, err = Open(state, "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	if err := j.Append(Record{Run: "r1", Kind: KindRunEnd, State: "done"}); err != nil {
		t.Fatal(err)
	}
	got, err := j.Records()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != KindRunStart || got[1].Kind != KindRunEnd {
		t.Fatalf("got %+v, want run-start then run-end", got)
	}
}

func TestReadingAMissingJournalIsAnEmptyJournal(t *testing.T) {
	got, err := ReadFile(filepath.Join(t.TempDir(), "nope.jsonl"))
	if err != nil || len(got) != 0 {
		t.Fatalf("ReadFile(missing) = %v, %v; want empty, nil", got, err)
	}
}

func TestTranscriptKeepsOneLinePerRecordWithNodeTimeAndWho(t *testing.T) {
	j, err := Open(t.TempDir(), "c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	tr, err := j.OpenTranscript("r1", "ops@bastion")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	tr.Command(at, "cp-1", "sudo -n -- mv a b")
	tr.Line(at, "cp-1", "stderr", "two\nlines")
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(tr.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-11-24T03:00:00Z cp-1 ops@bastion $ sudo -n -- mv a b\n" +
		"2026-11-24T03:00:00Z cp-1 ops@bastion stderr| two\\nlines\n"
	if string(data) != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", data, want)
	}
	if fi, _ := os.Stat(tr.Path()); fi.Mode().Perm() != 0o600 {
		t.Errorf("transcript mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.HasPrefix(filepath.Base(tr.Path()), "transcript-r1") {
		t.Errorf("transcript name %s", tr.Path())
	}
}
