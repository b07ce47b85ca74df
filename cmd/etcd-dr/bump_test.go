package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// racingWrites is more revisions than the bump's margin (1000 + 20% of the
// lab's small gap) covers: what the apiservers of a 100-node cluster write
// between preflight's reading and the end of step 1.
const racingWrites = 3000

// Issue 15 item 2: the apiservers keep writing after preflight read the live
// revision, until step 1 stops them. Here a client writes more revisions than
// the margin while the step-1 gate is open; the restored members must still
// start past the highest revision any client could have seen, which the test
// reads itself once step 1 proved every apiserver gone.
func TestWritesAfterPreflightAreCoveredByTheBumpDecidedOnceTheApiserversAreGone(t *testing.T) {
	l := inProcessLab(t, 173)
	var (
		mu        sync.Mutex
		afterStop int64            // the test's own reading at the step-2 gate
		restored  map[string]int64 // each member's revision before any apiserver is back
		facts     []string
		problems  []string
	)
	fail := func(format string, args ...any) { // gates are answered off the test goroutine
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	saw, err := driveEngine(t, l.ClusterFile(), func(g steps.Gate) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // 2 noisy cores, 3000 fsyncs
		defer cancel()
		switch g.Step {
		case steps.StopApiservers:
			if err := writeRevisions(ctx, l, racingWrites); err != nil {
				fail("writing %d revisions at the step-1 gate: %v", racingWrites, err)
			}
		case steps.RestoreEtcd:
			revs, err := memberRevisions(ctx, l)
			if err != nil {
				fail("reading the revision at the step-2 gate: %v", err)
			}
			mu.Lock()
			for _, r := range revs {
				afterStop = max(afterStop, r)
			}
			facts = g.Facts
			mu.Unlock()
		case steps.RepointApiservers: // step 2 verified, no apiserver started yet
			revs, err := memberRevisions(ctx, l)
			if err != nil {
				fail("reading the restored revisions at the step-3 gate: %v", err)
			}
			mu.Lock()
			restored = revs
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("the run failed: %v\n%s", err, tail(saw, 60))
	}
	for _, p := range problems {
		t.Error(p)
	}
	if afterStop == 0 || len(restored) == 0 {
		t.Fatalf("no reading at the step-2 gate (%d) or after the restore (%v)", afterStop, restored)
	}
	for ep, rev := range restored {
		if rev < afterStop {
			t.Errorf("member %s restored at revision %d, below %d, a revision clients could see before the apiservers stopped: watchers see time go backwards",
				ep, rev, afterStop)
		}
	}
	if f := strings.Join(facts, "\n"); !strings.Contains(f, "read after the last apiserver stopped") {
		t.Errorf("the step-2 gate does not say the bump comes from a reading after the apiservers stopped:\n%s", f)
	}
	requireInvariants(t, l.Dir())
}

// writeRevisions makes n revisions through the etcd client, as apiservers
// writing leases would: one put each, several at once.
func writeRevisions(ctx context.Context, l *lab.Lab, n int) error {
	cli, err := l.EtcdClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := cli.Put(ctx, fmt.Sprintf("/lab/racing-writes/%d", i%100), "written after preflight")
			return err
		})
	}
	return g.Wait()
}

// memberRevisions asks each member for its revision, by endpoint.
func memberRevisions(ctx context.Context, l *lab.Lab) (map[string]int64, error) {
	cli, err := l.EtcdClient()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	out := map[string]int64{}
	for _, ep := range cli.Endpoints() {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			return out, fmt.Errorf("%s: %w", ep, err)
		}
		out[ep] = st.Header.Revision
	}
	return out, nil
}
