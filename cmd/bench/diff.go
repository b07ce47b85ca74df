package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// The diff summary and its floor each run in a child process of the bench
// (this binary, re-executed with diffEnv set), so each one's peak memory
// is its own (wait4's rusage) and neither inherits the other's heap.
const diffEnv = "ETCD_DR_BENCH_DIFF" // "diff PATH" or "walk PATH"

func init() {
	if v := os.Getenv(diffEnv); v != "" {
		os.Exit(diffChild(v))
	}
}

const (
	diffGoal       = 1.5      // the diff summary may take this much more than the walk
	diffRSSGoalMiB = 64       // and hold this much more memory than the walk
	diffRounds     = 3        // turns taken; each path keeps its best
	diffValue      = 256      // bytes per value: a small Kubernetes object
	diffTxnOps     = 128      // etcd's default --max-txn-ops
	diffNamespaces = 100      // keys spread over this many namespaces
	diffHost       = snapHost // the snapshot bench's etcd address, used one after the other
)

// diffBench times the step-2 gate's diff summary on the bastion
// (snapshot.SnapshotKeys, then the Merger over the same keys as the live
// side, as diffWith does with the live listing) against a bare bbolt cursor
// walk of the key bucket of the same file, and compares their peak memory.
func diffBench(ctx context.Context, c options) ([]Row, error) {
	bins, err := lab.EnsureBinaries(ctx, "v3.7.3", func(s string) { fmt.Fprintln(c.Progress, s) })
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "etcd-dr-bench-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(c.Progress, "bench: diff: writing %d keys through etcd\n", c.DiffKeys)
	snap, err := saveSnapshot(ctx, bins.Etcd, dir, c.DiffKeys*diffValue>>20+64, func(cli *clientv3.Client) error {
		return fillKeys(ctx, cli, c.DiffKeys)
	})
	if err != nil {
		return nil, err
	}
	var ours, walk time.Duration
	var oursRSS, walkRSS int64
	for round := range diffRounds {
		modes := []string{"diff", "walk"}
		if round%2 == 1 {
			slices.Reverse(modes)
		}
		for _, m := range modes {
			d, rss, err := runDiffChild(ctx, m, snap, c.DiffKeys)
			if err != nil {
				return nil, err
			}
			if m == "diff" {
				ours, oursRSS = best(ours, d), max(oursRSS, rss)
			} else {
				walk, walkRSS = best(walk, d), max(walkRSS, rss)
			}
		}
	}
	r := ratio(ours.Seconds(), walk.Seconds())
	name := fmt.Sprintf("diff summary %d keys", c.DiffKeys)
	return []Row{
		{Name: name + ": time vs the floor (bare bbolt cursor walk of the key bucket)", Value: ours.Seconds(), Unit: "s",
			Peer: "bbolt walk", PeerValue: walk.Seconds(), Ratio: r, Goal: fmt.Sprintf("≤ %.1f×", diffGoal), Met: r <= diffGoal,
			Measured: true, Note: "each in its own process, from start to exit; the live listing (over SSH) is not in either"},
		{Name: name + ": peak RSS vs the bbolt walk's", Value: float64(oursRSS) / (1 << 20), Unit: "MiB",
			Peer: "bbolt walk", PeerValue: float64(walkRSS) / (1 << 20), Ratio: ratio(float64(oursRSS), float64(walkRSS)),
			Goal: fmt.Sprintf("≤ walk + %d MiB (no key list held whole)", diffRSSGoalMiB),
			Met:  oursRSS-walkRSS <= diffRSSGoalMiB<<20, Measured: true,
			Note: "largest process of each (the diff's includes snapshot's own child)"},
	}, nil
}

// runDiffChild runs one mode in a child process and returns its wall time
// and peak RSS (the largest of it and its own children).
func runDiffChild(ctx context.Context, mode, snap string, keys int) (time.Duration, int64, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), diffEnv+"="+mode+" "+snap)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("diff bench %s: %w: %s", mode, err, tailLines(out.String(), 3))
	}
	var n int
	if _, err := fmt.Sscan(out.String(), &n); err != nil || n != keys {
		return 0, 0, fmt.Errorf("diff bench %s read %q keys, want %d", mode, out.String(), keys)
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	return d, rss, nil
}

// diffChild is the child: it prints how many keys it saw.
func diffChild(spec string) int {
	var mode, path string
	if _, err := fmt.Sscan(spec, &mode, &path); err != nil {
		fmt.Fprintf(os.Stderr, "%s=%q: %v\n", diffEnv, spec, err)
		return 2
	}
	var n int
	var err error
	switch mode {
	case "diff":
		n, err = diffSummary(path)
	case "walk":
		n, err = boltWalk(path)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(n)
	return 0
}

// diffSummary is what the gate does on the bastion: the snapshot's live
// keys into their sorted file (snapshot.SnapshotKeyFile), then the Merger
// streaming them against a live listing, here the same file read again in
// key order (an unchanged cluster; the merge costs the same whatever it
// finds), so neither side is held whole, as in diffWith.
func diffSummary(path string) (int, error) {
	kf, err := snapshot.SnapshotKeyFile(path, "")
	if err != nil {
		return 0, err
	}
	defer kf.Close()
	snap, err := kf.Open()
	if err != nil {
		return 0, err
	}
	defer snap.Close()
	live, err := kf.Open()
	if err != nil {
		return 0, err
	}
	defer live.Close()
	m := snapshot.NewStreamMerger(snap)
	for {
		k, err := live.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if err := m.Live(k); err != nil {
			return 0, err
		}
	}
	d := m.Diff(kf.Revision, kf.Revision)
	if err := m.Err(); err != nil {
		return 0, err
	}
	_ = d.Sentence()
	return int(m.Seen()), nil
}

// boltWalk is the floor: open the file read-only and walk the key bucket
// with a cursor, touching every key and value, holding nothing. Every
// revision is one put here (no key written twice), so the count matches.
func boltWalk(path string) (int, error) {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n, sum := 0, 0
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("%s: no key bucket", path)
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			sum += len(k) + len(v)
		}
		return nil
	})
	if sum == 0 && n > 0 {
		return 0, fmt.Errorf("walked %d empty revisions", n)
	}
	return n, err
}

// fillKeys writes n small keys in transactions of etcd's default maximum.
func fillKeys(ctx context.Context, cli *clientv3.Client, n int) error {
	val := string(bytes.Repeat([]byte{'v'}, diffValue))
	for i := 0; i < n; i += diffTxnOps {
		var ops []clientv3.Op
		for j := i; j < min(n, i+diffTxnOps); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("/registry/configmaps/ns-%03d/cm-%07d", j%diffNamespaces, j), val))
		}
		tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err := cli.Txn(tctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("put keys %d–%d: %w", i, i+len(ops)-1, err)
		}
	}
	return nil
}
