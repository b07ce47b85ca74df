package steps

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Issue 19: bringing etcdutl or etcdctl to a node that lacks them reports
// bytes and rate like the snapshot copies, to the clients and the journal
// (watch replays it). The copy is the real bring script (sh, cat into the
// tools dir, sha256sum), run on this machine as the rig's node.
func TestBringingAToolReportsItsBytesLikeTheSnapshotCopies(t *testing.T) {
	const size = 8 << 20 // a few MiB: a static etcdutl is ~25 MB
	r := newRig(t)
	bin := filepath.Join(r.dir, "etcdutl-v3.6.6")
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	use := ToolUse{Name: "etcdutl", Version: "3.6.6", Bastion: bin, SHA256: hex.EncodeToString(sum[:]),
		Argv0: filepath.Join(r.dir, "node", "var", "lib", "etcd-dr", "tools", "run-1", "etcdutl")}
	bring := Step{ID: "bring", Title: "Bring etcdutl", Why: "progress",
		Run: func(ctx context.Context, c *Context) error { return c.bringTool(ctx, "cp-1", use) }}
	e := r.engine(t, func(o *Options) { o.Steps = []Step{bring} })
	progress := runCollectingProgress(t, e, 2*time.Minute) // 8 MiB through a local pipe: well under a second; generous for a loaded machine
	if got, err := os.ReadFile(use.Argv0); err != nil || len(got) != size {
		t.Fatalf("the tool did not arrive whole: %d bytes, %v", len(got), err)
	}
	if len(progress) < 2 {
		t.Fatalf("got %d progress events, want a start and an end at least", len(progress))
	}
	first, last := progress[0], progress[len(progress)-1]
	if first.Node != "cp-1" || first.Kind != ProgressBytes || first.Total != size || first.Done != 0 {
		t.Errorf("first event %+v, want cp-1 at 0 of %d bytes", first, size)
	}
	if !last.End || last.Err != "" || last.Done != size || last.Rate <= 0 {
		t.Errorf("last event %+v, want the end with every byte and a rate", last)
	}
	var states []string
	for _, rec := range r.records(t) {
		if rec.Kind == journal.KindProgress {
			states = append(states, rec.State)
		}
	}
	if len(states) != 5 || states[0] != "started" || states[4] != "done" {
		t.Errorf("journaled progress %v, want the start, each quarter and the end", states)
	}
}
