package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The lock lies on every node a destructive step acts on (issue 15,
// leftover 1), lab block 195: an external etcd topology under systemd, where
// the members live on etcd-N nodes of their own. Another operator's lock on
// etcd-2 alone, and on no control-plane node, refuses the run in preflight
// naming etcd-2 and its holder, before anything is copied, parked or
// restored; that lock is left as it was, and this run leaves none behind.
func TestAnOperatorsLockOnAnExternalEtcdNodeAloneRefusesTheRun(t *testing.T) {
	labtest.Block(t, 195)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 195, ControlPlanes: 1, Workers: 0,
		Topology: lab.TopologyExternal, EtcdMode: lab.EtcdModeSystemd})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	theirs, err := json.Marshal(steps.LockHolder{Holder: "carol@bastion3", PID: 777, Run: "their-run", Nonce: "their-nonce",
		Time: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)})
	must(t, err)
	theirs = append(theirs, '\n')
	putOnNode(t, l, "etcd-2", steps.DefaultLockPath, theirs)
	start := time.Now()

	saw, err := runEngine(t, l.ClusterFile(), 0)
	// The headless run stops at preflight's failure gate, whose error keeps
	// the refusal's text only.
	if err == nil || !strings.Contains(err.Error(), "etcd-2: "+steps.DefaultLockPath+" is held by carol@bastion3") {
		t.Fatalf("run = %v, want refused by carol's lock on etcd-2:\n%s", err, tail(saw, 40))
	}
	for _, line := range strings.Split(saw, "\n") {
		if node, ok := nodeLine(line, string(steps.StopApiservers), "running"); ok {
			t.Errorf("stop-apiservers started on %s after the refusal", node)
		}
	}
	evs, err := lab.ReadTimeline(l.Dir())
	must(t, err)
	for _, e := range evs {
		if e.Kind != lab.EvSSHExec || e.Time.Before(start) {
			continue
		}
		// The read-only lock check (steps.CheckLockFree) names the lock
		// file and changes nothing: its script alone tests "$3".
		if strings.Contains(e.Command, `[ -n "$3" ] && grep -qF -- "$3" "$1"; then exit 0; fi`) {
			continue
		}
		for _, change := range []string{".part", "parked", "etcd-dr.lock", "snapshot restore", "systemctl stop"} {
			if strings.Contains(e.Command, change) {
				t.Errorf("%s ran %q before the refusal", e.Node, e.Command)
			}
		}
	}
	requireFileOnNode(t, l, "etcd-2", steps.DefaultLockPath, theirs)
	for _, n := range []string{"cp-1", "etcd-1", "etcd-3"} {
		requireAbsentOnNode(t, l, n, steps.DefaultLockPath)
	}
	requireSafety(t, l.Dir())
}

// requireAbsentOnNode: file does not exist on node (checked over SSH).
func requireAbsentOnNode(t *testing.T, l *lab.Lab, node, file string) {
	t.Helper()
	cl, _, err := config.Load(l.ClusterFile())
	must(t, err)
	r, err := nodes.NewRunner(cl, nodes.Options{})
	must(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Run(ctx, node, nodes.Cmd{Args: []string{"test", "!", "-e", file}, Sudo: true}, nil)
	must(t, err)
	if res.ExitCode != 0 {
		t.Errorf("%s: %s is there after the refused run", node, file)
	}
}
