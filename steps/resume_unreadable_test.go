package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// A run is never resumed from a journal with a line that is not a record
// (issue 15 item 11): the refusal names the line and --new-run; --new-run
// keeps the old journal aside and starts afresh.
func TestAJournalWithAGarbageLineIsNotResumedAndNewRunSetsItAside(t *testing.T) {
	r := newRig(t)
	r.markReady(t)
	e := r.engine(t, nil)
	c := drive(e, func(g Gate, n int) Decision { return Decision{Proceed: g.Step == "decide"} })
	if _, err := e.Run(context.Background()); !errors.Is(err, ErrAborted) {
		t.Fatalf("first run = %v, want it backed out after deciding (open)", err)
	}
	c.wait(t)
	path := filepath.Join(journal.Dir(r.state, r.cluster.Name), "journal.jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("a line someone pasted\n")
	f.Close()
	lines := strings.Count(readString(t, path), "\n")

	resumed := r.engine(t, nil)
	c = drive(resumed, yes)
	_, err = resumed.Run(context.Background())
	c.wait(t)
	var ue *JournalUnreadableError
	if !errors.As(err, &ue) {
		t.Fatalf("resume = %v, want JournalUnreadableError", err)
	}
	for _, want := range []string{"line " + itoa(lines), "--new-run", "kept"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if got := strings.Count(readString(t, path), "\n"); got != lines {
		t.Errorf("the refused resume wrote to the journal (%d lines, was %d)", got, lines)
	}

	fresh := r.engine(t, func(o *Options) { o.NewRun = true })
	c = drive(fresh, yes)
	if _, err := fresh.Run(context.Background()); err != nil {
		t.Fatalf("--new-run on an unreadable journal: %v", err)
	}
	c.wait(t)
	kept, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "journal-*.jsonl"))
	if len(kept) != 1 || !strings.Contains(readString(t, kept[0]), "a line someone pasted") {
		t.Errorf("the old journal was not kept aside: %v", kept)
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int) string { return strconv.Itoa(n) }
