package journal

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Opening a journal repairs a line torn by a crash (ends it with a newline)
// by looking at its last byte only: a journal of many drills is large, and
// the repair once read the whole file into memory on every open. On a
// 64 MiB journal: a torn tail is ended and the next record is read back on
// its own line; an intact tail is left byte for byte; and opening it
// allocates far less than the file (bytes, not time: the bound is a quarter
// of the file, so any whole read fails it whatever the machine's speed).
func TestOpeningALargeJournalRepairsOnlyItsTail(t *testing.T) {
	const size = 64 << 20
	for _, tc := range []struct {
		name string
		torn bool
	}{
		{"a torn last record is ended and the next record starts on its own line", true},
		{"an intact journal is left as it was", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			path := filepath.Join(Dir(state, "c"), fileName)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriter(f)
			old := rec(t, Record{Run: "old", Kind: KindCheck, Why: strings.Repeat("y", 300)}) + "\n"
			w.WriteString(rec(t, Record{Run: "old", Kind: KindRunStart}) + "\n")
			for n := 0; n < size; n += len(old) {
				w.WriteString(old)
			}
			w.WriteString(rec(t, Record{Run: "old", Kind: KindRunEnd, State: "done"}) + "\n")
			w.WriteString(rec(t, Record{Run: "live", Kind: KindRunStart}) + "\n")
			if tc.torn {
				w.WriteString(`{"at":"2026-11-24T03:00:00Z","run":"live","kind":"st`)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}

			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			j, err := Open(state, "c")
			runtime.ReadMemStats(&m1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			if got := m1.TotalAlloc - m0.TotalAlloc; got > size/4 {
				t.Errorf("opening a %d MiB journal allocated %d MiB: it read the whole file", size>>20, got>>20)
			}
			after, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := before.Size() + map[bool]int64{true: 1, false: 0}[tc.torn]; after.Size() != want {
				t.Fatalf("after open the journal is %d bytes, want %d", after.Size(), want)
			}
			if err := j.Append(Record{Run: "live", Kind: KindRunEnd, State: "done"}); err != nil {
				t.Fatal(err)
			}
			recs, _, err := LastRun(path)
			if err != nil {
				t.Fatalf("LastRun after open and append: %v", err)
			}
			if len(recs) != 2 || recs[0].Kind != KindRunStart || recs[1].Kind != KindRunEnd || recs[1].Run != "live" {
				t.Fatalf("LastRun = %+v, want the live run's run-start and run-end", recs)
			}
		})
	}
}
