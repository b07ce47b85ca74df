package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	etcdutl "go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// snapHost is the loopback address of the benchmark's etcd (block 141).
const snapHost = "127.141.0.1"

const valueSize = 512 << 10 // under etcd's 1.5 MiB request limit

// snapshotBench writes SnapshotMiB through a real etcd, saves a snapshot
// with etcd-dr, then times status and restore through etcd-dr's library
// path and the etcdutl binary on the same file, alternating, best of
// snapshotRounds.
func snapshotBench(ctx context.Context, c options) ([]Row, error) {
	bins, err := lab.EnsureBinaries(ctx, "v3.7.3", func(s string) { fmt.Fprintln(c.Progress, s) })
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "etcd-dr-bench-snapshot-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	snap, err := writeSnapshot(ctx, bins.Etcd, dir, c.SnapshotMiB)
	if err != nil {
		return nil, err
	}
	var st, stPeer, sha, rs, rsPeer time.Duration
	for round := range snapshotRounds {
		ours, err := timed(func() error { _, err := snapshot.Verify(snap); return err })
		if err != nil {
			return nil, fmt.Errorf("snapshot.Verify %s: %w", snap, err)
		}
		peer, err := timed(func() error {
			return exec.CommandContext(ctx, bins.Etcdutl, "snapshot", "status", snap, "-w", "json").Run()
		})
		if err != nil {
			return nil, fmt.Errorf("etcdutl snapshot status %s: %w", snap, err)
		}
		hash, err := timed(func() error { return sha256File(snap) })
		if err != nil {
			return nil, err
		}
		st, stPeer, sha = best(st, ours), best(stPeer, peer), best(sha, hash)
		ours, peer, err = restores(ctx, bins.Etcdutl, snap, filepath.Join(dir, fmt.Sprint("restore-", round)))
		if err != nil {
			return nil, err
		}
		rs, rsPeer = best(rs, ours), best(rsPeer, peer)
	}
	size := fmt.Sprintf("%d MiB", c.SnapshotMiB)
	return []Row{
		durRow("snapshot "+size+": status (snapshot.Verify vs etcdutl snapshot status)", st, "etcdutl", stPeer),
		{Name: "snapshot " + size + ": sha256 of the file alone (the check Verify may not skip) vs etcdutl snapshot status",
			Value: sha.Seconds(), Unit: "s", Peer: "etcdutl", PeerValue: stPeer.Seconds(), Ratio: ratio(sha.Seconds(), stPeer.Seconds()),
			Measured: true, Note: "Verify cannot finish before this one-core pass"},
		durRow("snapshot "+size+": restore (etcdutl library vs etcdutl binary)", rs, "etcdutl", rsPeer),
	}, nil
}

// snapshotRounds: the paths alternate this many times and each keeps its
// best, so a neighbour's burst on a shared machine does not decide a ratio.
const snapshotRounds = 3

// sha256File is the floor of snapshot.Verify: one sequential sha256 pass
// over the file, which no second core can shorten.
func sha256File(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(sha256.New(), f, make([]byte, 1<<20))
	return err
}

func durRow(name string, ours time.Duration, peer string, theirs time.Duration) Row {
	r := ratio(ours.Seconds(), theirs.Seconds())
	return Row{Name: name, Value: ours.Seconds(), Unit: "s", Peer: peer, PeerValue: theirs.Seconds(), Ratio: r,
		Goal: "≤ 1.1×", Met: r <= 1.1, Measured: true}
}

func restores(ctx context.Context, etcdutlBin, snap, base string) (time.Duration, time.Duration, error) {
	defer os.RemoveAll(base + "-lib")
	defer os.RemoveAll(base + "-bin")
	peerURL := "http://" + snapHost + ":2380"
	ours, err := timed(func() error {
		return etcdutl.NewV3(zap.NewNop()).Restore(etcdutl.RestoreConfig{SnapshotPath: snap, Name: "m1",
			OutputDataDir: base + "-lib", PeerURLs: []string{peerURL}, InitialCluster: "m1=" + peerURL, InitialClusterToken: "bench"})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("restore %s with the etcdutl library: %w", snap, err)
	}
	peer, err := timed(func() error {
		out, err := exec.CommandContext(ctx, etcdutlBin, "snapshot", "restore", snap, "--name", "m1", "--data-dir", base+"-bin",
			"--initial-cluster", "m1="+peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster-token", "bench").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, tailLines(string(out), 3))
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("etcdutl snapshot restore %s: %w", snap, err)
	}
	return ours, peer, nil
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// writeSnapshot starts a single-member etcd, fills it with mib MiB of
// values and saves a snapshot of it with etcd-dr's snapshot.Save.
func writeSnapshot(ctx context.Context, etcdBin, dir string, mib int) (string, error) {
	client := "http://" + snapHost + ":2379"
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	cmd := exec.Command(etcdBin, "--name", "bench", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", "http://"+snapHost+":2380", "--initial-advertise-peer-urls", "http://"+snapHost+":2380",
		"--initial-cluster", "bench=http://"+snapHost+":2380", "--quota-backend-bytes", fmt.Sprint(int64(mib+512)<<20*2))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, DialTimeout: 30 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if err := fill(ctx, cli, mib); err != nil {
		return "", fmt.Errorf("fill etcd at %s (log: %s): %w", client, logf.Name(), err)
	}
	out := filepath.Join(dir, "snapshot.db")
	if _, err := snapshot.Save(ctx, clientv3.Config{Logger: zap.NewNop()}, client, out); err != nil {
		return "", err
	}
	return out, nil
}

func fill(ctx context.Context, cli *clientv3.Client, mib int) error {
	n := max(1, mib<<20/valueSize)
	val := make([]byte, valueSize)
	rand.Read(val)
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				_, err := cli.Put(pctx, fmt.Sprintf("/registry/configmaps/bench/cm-%06d", i), string(val))
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}
