package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The lock on the lab's real nodes (issue 15 items 4 and 14), lab block 58.
//
// Fencing: operator A waits at the step-1 gate; operator B, on another
// bastion (its own state dir), runs with --force-unlock and stops at its own
// step-1 gate, holding the lock. A then confirms step 1: A's step 1 is
// refused on every control-plane node naming B, and nothing is parked.
//
// A lock that cannot be created: the lock's file system on cp-2 is a full
// tmpfs (a real ENOSPC); preflight reports that error, not another
// operator's lock, suggests no --force-unlock, and leaves no lock of its own
// on cp-1 and cp-3.
func TestTheNodeLockOnTheLab(t *testing.T) {
	l := inProcessLab(t, 58)
	t.Run("a run whose lock is force-unlocked at the step-1 gate parks nothing", func(t *testing.T) {
		var t0 time.Time
		saw, err := driveEngine(t, l.ClusterFile(), func(g steps.Gate) {
			if g.Step != steps.StopApiservers || !t0.IsZero() {
				return
			}
			takeOverLock(t, secondOperator(t, l.Dir(), l.ClusterFile()))
			t0 = time.Now()
		})
		if err == nil {
			t.Fatalf("A finished although B took its lock at the step-1 gate:\n%s", tail(saw, 40))
		}
		for _, want := range []string{"no longer holds the lock", "/var/lib/etcd-dr.lock", "is now held by"} {
			if !strings.Contains(saw, want) {
				t.Errorf("A was not told %q:\n%s", want, tail(saw, 40))
			}
		}
		requireNothingParkedSince(t, l.Dir(), t0)
	})
	t.Run("a lock on a full disk reports the disk, not a holder", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
			must(t, l.FillDisk(ctx, n, "/var/lib/etcd-dr-lock", 64<<10))
		}
		// cp-2's tmpfs is filled to the last page by a file of its own.
		putOnNode(t, l, "cp-2", "/var/lib/etcd-dr-lock/filler", bytes.Repeat([]byte{'f'}, 64<<10))
		cluster := withStateDir(t, l.Dir(), l.ClusterFile(), "state-full")
		var saw bytes.Buffer
		s, err := openSessionWith(engineFlags{file: cluster}, &saw, func(o *steps.Options) {
			o.LockPath = "/var/lib/etcd-dr-lock/etcd-dr.lock"
		})
		must(t, err)
		defer s.Close()
		_, err = headless(ctx, s, lab.ClusterName, &saw)
		var ce *steps.LockCreateError
		if !errors.As(err, &ce) && !strings.Contains(saw.String(), "cannot create the lock") {
			t.Fatalf("preflight = %v, want the lock not creatable on cp-2:\n%s", err, tail(saw.String(), 30))
		}
		out := saw.String() + fmt.Sprint(err)
		if !strings.Contains(out, "No space left on device") || strings.Contains(out, "unreadable lock") ||
			strings.Contains(out, "start again with --force-unlock") {
			t.Errorf("the operator was not told the disk is full (or was sent to --force-unlock):\n%s", tail(out, 30))
		}
		for _, n := range []string{"cp-1", "cp-3"} {
			requireNoFileOnNode(t, l, n, "/var/lib/etcd-dr-lock/etcd-dr.lock")
		}
	})
}

// takeOverLock is operator B: preflight with --force-unlock on cluster,
// then backing out at the step-1 gate, so B holds the lock and does nothing.
func takeOverLock(t *testing.T, cluster string) {
	t.Helper()
	var saw bytes.Buffer
	s, err := openSessionWith(engineFlags{file: cluster, forceUnlock: true}, &saw, nil)
	must(t, err)
	defer s.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range s.eng.Events() {
			fmt.Fprintln(&saw, steps.FormatEvent(ev))
			if g, ok := ev.(steps.GateEvent); ok {
				s.eng.Decide(steps.Decision{Proceed: g.Gate.Step == steps.Preflight && len(g.Gate.Choices) == 0,
					Typed: lab.ClusterName, By: "bob@bastion2"})
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, err = s.eng.Run(ctx)
	<-done
	if !errors.Is(err, steps.ErrAborted) || !strings.Contains(saw.String(), "preflight") {
		t.Fatalf("operator B's takeover = %v:\n%s", err, tail(saw.String(), 30))
	}
	if !strings.Contains(saw.String(), "stop-apiservers") {
		t.Fatalf("operator B did not reach its step-1 gate:\n%s", tail(saw.String(), 30))
	}
}

// requireNothingParkedSince: the lab's timeline shows no SSH command that
// moves a manifest into the park dir since t0.
func requireNothingParkedSince(t *testing.T, dir string, t0 time.Time) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	must(t, err)
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && e.Time.After(t0) && strings.Contains(e.Command, "/etc/kubernetes/parked") {
			t.Errorf("%s: a manifest was parked after the lock was lost: %s", e.Node, e.Command)
		}
	}
}

// requireNoFileOnNode: file does not exist on node (checked over SSH).
func requireNoFileOnNode(t *testing.T, l *lab.Lab, node, file string) {
	t.Helper()
	cl, _, err := config.Load(l.ClusterFile())
	must(t, err)
	r, err := nodes.NewRunner(cl, nodes.Options{})
	must(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Run(ctx, node, nodes.Cmd{Args: []string{"ls", "-A", "--", filepath.Dir(file)}, Sudo: true}, nil)
	must(t, err)
	if res.ExitCode != 0 {
		t.Fatalf("%s: ls %s: exit %d: %s", node, filepath.Dir(file), res.ExitCode, res.Stderr)
	}
	if strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("%s: the refused preflight left %q in %s", node, res.Stdout, filepath.Dir(file))
	}
}

// withStateDir writes a copy of the lab's cluster file whose journal lives
// in dir/name: a run of its own.
func withStateDir(t *testing.T, dir, cluster, name string) string {
	t.Helper()
	b, err := os.ReadFile(cluster)
	must(t, err)
	from := "dir: " + filepath.Join(dir, "state") + "\n"
	if !strings.Contains(string(b), from) {
		t.Fatalf("%s has no %q", cluster, from)
	}
	p := filepath.Join(dir, "cluster-"+name+".yaml")
	must(t, os.WriteFile(p, []byte(strings.Replace(string(b), from, "dir: "+filepath.Join(dir, name)+"\n", 1)), 0o644))
	return p
}
