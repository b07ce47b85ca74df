package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// distMembers is how many members the snapshot goes to, as in a 3-member
// cluster whose snapshot lies on the bastion.
const distMembers = 3

// distRounds: etcd-dr and scp take turns this many times; each keeps its
// best round.
const distRounds = 2

// copyScript is preflight's copy of the verified snapshot to a member
// (snapshotActions in steps/preflight.go): written under a .part name and
// renamed whole, never left half-written under the real name.
const copyScript = `set -e; umask 077; cat >"$1.part"; mv -- "$1.part" "$1"`

// rssGoalMiB bounds the bastion's memory growth while it sends the
// snapshot: the file is streamed, never held, whatever its size.
const rssGoalMiB = 64

// distribute sends snap to 3 SSH endpoints at once the way preflight does
// (the copy script with the file as stdin, then sha256sum on arrival,
// compared with the hash verified on the bastion), and, taking turns, with
// `scp` to the same 3 in parallel (no check on arrival). The members are
// in-process SSH servers in the endpoint child process, writing to this
// machine's disk.
func distribute(ctx context.Context, c options, snap string, mib int) ([]Row, error) {
	want, err := fileSHA256(snap)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(snap)
	if err != nil {
		return nil, err
	}
	e, err := startEndpoints(distMembers)
	defer e.close()
	if err != nil {
		return nil, err
	}
	var ours, scp, check time.Duration
	var rss, scpRSS int64
	for round := range distRounds {
		runs := []func() error{
			func() error {
				dst := filepath.Join(e.dir, fmt.Sprint("etcd-dr-", round))
				var grew int64
				var ck time.Duration
				d, err := timed(func() error {
					var err error
					grew, err = peakRSSGrowth(func() error {
						var err error
						ck, err = e.sendSnapshot(ctx, snap, dst, want)
						return err
					})
					return err
				})
				if ours == 0 || d < ours {
					ours, check = d, ck
				}
				rss = max(rss, grew)
				return cmpErr(err, os.RemoveAll(dst))
			},
			func() error {
				dst := filepath.Join(e.dir, fmt.Sprint("scp-", round))
				var peak int64
				d, err := timed(func() error {
					var err error
					peak, err = e.scp(ctx, snap, dst)
					return err
				})
				scp, scpRSS = best(scp, d), max(scpRSS, peak)
				return cmpErr(err, os.RemoveAll(dst))
			},
		}
		if round%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, r := range runs {
			if err := r(); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(c.Progress, "bench: snapshot distribution round %d: etcd-dr best %v, scp best %v\n", round+1, ours, scp)
	}
	bytes := float64(distMembers) * float64(st.Size())
	rate := func(d time.Duration) float64 { return bytes / (1 << 20) / d.Seconds() }
	r := ratio(rate(ours), rate(scp))
	name := fmt.Sprintf("snapshot %d MiB: distribution to %d members over SSH", mib, distMembers)
	return []Row{
		{Name: name + ", sha256 checked on arrival, vs scp -O to the same 3 in parallel", Value: rate(ours), Unit: "MiB/s",
			Peer: "scp", PeerValue: rate(scp), Ratio: r, Goal: "≥ 1.00×", Met: r >= 1, Measured: true,
			Note: fmt.Sprintf("etcd-dr %.2f s (copy, then sha256sum on each member: %.2f s of it), scp %.2f s (no check); the members' hashes share this machine's cores",
				ours.Seconds(), check.Seconds(), scp.Seconds())},
		{Name: name + ": the copy alone (before the check on arrival) vs scp -O (context)", Value: rate(ours - check), Unit: "MiB/s",
			Peer: "scp", PeerValue: rate(scp), Ratio: ratio(rate(ours-check), rate(scp)), Measured: true,
			Note: "the sha256sum round after the copy is what the row above adds to it"},
		{Name: name + ": bastion RSS growth while sending", Value: float64(rss) / (1 << 20), Unit: "MiB",
			Peer: "scp, largest of 3", PeerValue: float64(scpRSS) / (1 << 20), Ratio: ratio(float64(rss), float64(scpRSS)),
			Goal: fmt.Sprintf("≤ %d MiB (streamed, not held)", rssGoalMiB), Met: rss <= rssGoalMiB<<20, Measured: true,
			Note: "etcd-dr: this process's peak RSS over its RSS before; scp: each process's peak RSS"},
	}, nil
}

// sendSnapshot is preflight's copy and check to every endpoint at once.
// It returns how long the check on arrival took, apart.
func (e *endpoints) sendSnapshot(ctx context.Context, snap, dir, want string) (check time.Duration, err error) {
	r, err := nodes.New(nodes.Params{Nodes: e.targets, IdentityFiles: []string{e.key}, KnownHosts: e.knownHosts,
		ConnectTimeout: time.Minute, CommandTimeout: time.Hour, Concurrency: distMembers})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	names := make([]string, len(e.targets))
	for i, t := range e.targets {
		names[i] = t.Name
	}
	dst := func(node string) string { return filepath.Join(dir, node, "snapshot.db") }
	for _, n := range names {
		if err := os.MkdirAll(filepath.Dir(dst(n)), 0o700); err != nil {
			return 0, err
		}
	}
	var mu sync.Mutex
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var openErr error
	res := r.FanOut(ctx, names, func(node string) nodes.Cmd {
		f, err := os.Open(snap)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			openErr = err
			return nodes.Cmd{Args: []string{"false"}}
		}
		files = append(files, f)
		return nodes.Cmd{Args: []string{"sh", "-c", copyScript, "etcd-dr", dst(node)}, Stdin: f}
	}, nil)
	if openErr != nil {
		return 0, openErr
	}
	if err := allOK("copy", res); err != nil {
		return 0, err
	}
	start := time.Now()
	res = r.FanOut(ctx, names, func(node string) nodes.Cmd { return nodes.Cmd{Args: []string{"sha256sum", "--", dst(node)}} }, nil)
	check = time.Since(start)
	if err := allOK("sha256sum", res); err != nil {
		return check, err
	}
	for _, x := range res {
		if got := strings.Fields(x.Stdout); len(got) == 0 || got[0] != want {
			return check, fmt.Errorf("%s: sha256 on arrival %q, want %s", x.Node, x.Stdout, want)
		}
	}
	return check, nil
}

func allOK(what string, res []nodes.Result) error {
	for _, x := range res {
		if !x.OK() {
			return fmt.Errorf("%s on %s: exit %d: %v %s", what, x.Node, x.ExitCode, x.Err, x.Stderr)
		}
	}
	return nil
}

// scp copies snap to every endpoint at once, one scp process each, and
// returns the largest peak RSS among them. -O: the legacy protocol, which
// runs `scp -t` on the endpoint; the in-process servers offer no SFTP
// subsystem.
func (e *endpoints) scp(ctx context.Context, snap, dir string) (int64, error) {
	if _, err := exec.LookPath("scp"); err != nil {
		return 0, fmt.Errorf("scp is not installed (openssh-client)")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(e.targets))
	peaks := make([]int64, len(e.targets))
	for i, t := range e.targets {
		dst := filepath.Join(dir, t.Name, "snapshot.db")
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return 0, err
		}
		args := append(e.sshOpts(), "-O", "-q", "-P", strconv.Itoa(t.Port), snap, fmt.Sprintf("%s@%s:%s", e.user, t.Host, dst))
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "scp", args...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				errs[i] = fmt.Errorf("scp to %s: %w: %s", t.Name, err, tailLines(string(out), 3))
				return
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peaks[i] = ru.Maxrss << 10 // KiB on Linux
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return slices.Max(peaks), nil
}

// peakRSSGrowth runs f and returns how far this process's resident set
// rose above where it stood before: the kernel's peak (VmHWM) is reset to
// the current RSS first (clear_refs 5, Linux ≥ 4.0).
func peakRSSGrowth(f func() error) (int64, error) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("reset the peak RSS: %w", err)
	}
	before, err := procStatus("VmRSS")
	if err != nil {
		return 0, err
	}
	if err := f(); err != nil {
		return 0, err
	}
	peak, err := procStatus("VmHWM")
	return max(0, peak-before), err
}

// procStatus reads one "Vm...: N kB" field of /proc/self/status, in bytes.
func procStatus(field string) (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
