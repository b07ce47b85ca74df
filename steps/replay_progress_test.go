package steps

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Issue 19: `watch` shows a copy's progress as the console did. A real copy
// (64 MiB through a process reading its stdin) is journaled, then the
// journal is replayed: the follower sends the typed ProgressEvents (start,
// each quarter, end) with their bytes, total and rate, not wording.
func TestWatchReplaysACopysProgressFromTheJournal(t *testing.T) {
	const size = 64 << 20
	r := newRig(t)
	dst := filepath.Join(r.dir, "data", "etcd-restored")
	copyStep := Step{ID: "copy", Title: "Copy the snapshot", Why: "progress",
		Run: func(ctx context.Context, c *Context) error {
			c.Values.SnapshotSize, c.Values.DataDir, c.Values.Run = size, dst, "run-1"
			c.Values.SnapshotMemberCopy = c.memberCopyPath()
			if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
				return err
			}
			return c.copyTo(ctx, "cp-1", io.LimitReader(zeros{}, size))
		}}
	e := r.engine(t, func(o *Options) { o.Steps = []Step{copyStep} })
	live := runCollectingProgress(t, e, 2*time.Minute) // 64 MiB through a local pipe: well under a second; generous for a loaded machine
	evs, _, err := NewJournalFollower(filepath.Join(journal.Dir(r.state, r.cluster.Name), "journal.jsonl")).Poll()
	if err != nil {
		t.Fatal(err)
	}
	var replayed []ProgressEvent
	for _, ev := range evs {
		if p, ok := ev.(ProgressEvent); ok {
			replayed = append(replayed, p)
		}
	}
	if len(replayed) != 5 {
		t.Fatalf("replayed %d progress events, want 5 (start, three quarters, end): %+v", len(replayed), replayed)
	}
	first, last := replayed[0], replayed[4]
	if first.Node != "cp-1" || first.Step != "copy" || first.Kind != ProgressBytes || first.Total != size || first.Done != 0 || first.End {
		t.Errorf("first replayed %+v, want cp-1's copy starting at 0 of %d", first, size)
	}
	for i, q := range replayed[1:4] {
		if want := int64(i+1) * size / 4; q.Done < want || q.End {
			t.Errorf("quarter %d replayed %+v, want at least %d bytes", i+1, q, want)
		}
	}
	if liveEnd := live[len(live)-1]; !last.End || last.Err != "" || last.Done != size || last.Rate <= 0 ||
		!last.Started.Equal(liveEnd.Started) || last.Done != liveEnd.Done || last.Work != liveEnd.Work {
		t.Errorf("last replayed %+v, want the console's end %+v", last, liveEnd)
	}
}
