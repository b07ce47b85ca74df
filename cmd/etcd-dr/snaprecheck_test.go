package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// requireRewriteAtTheRestoreGateIsRefused: a run restores from file on
// cp-2 (snapshot.on: cp-2); while it waits at the step-2 gate, a backup job
// rewrites that file with other bytes. No member may restore: not cp-2
// from the new bytes, and not the others from their copies of the old
// ones, which would leave a cluster split across two data sets. The
// operator is told the node, the file and both hashes.
func requireRewriteAtTheRestoreGateIsRefused(t *testing.T, l *lab.Lab, file string, good []byte) {
	t.Helper()
	putOnNode(t, l, "cp-2", file, good)
	rewritten := append(append([]byte{}, good...), []byte("appended by a backup job")...)
	cluster := clusterWith(t, l, "rewritten", file, "cp-2")
	var gateOpened time.Time
	saw, err := runEngineWith(t, cluster, func(o *steps.Options) {
		o.Steps = steps.Runbook()
		for i, s := range o.Steps {
			if s.ID != steps.RestoreEtcd {
				continue
			}
			run := s.Run
			// The step's Run starts right after its gate is confirmed:
			// writing here is writing while the gate was open.
			o.Steps[i].Run = func(ctx context.Context, c *steps.Context) error {
				gateOpened = time.Now()
				putOnNode(t, l, "cp-2", file, rewritten)
				return run(ctx, c)
			}
		}
	})
	if err == nil {
		t.Fatalf("the run succeeded from a rewritten snapshot:\n%s", tail(saw, 40))
	}
	if gateOpened.IsZero() {
		t.Fatalf("the run never reached the restore step: %v\n%s", err, tail(saw, 40))
	}
	saw += "\n" + err.Error()
	was, now := sha256.Sum256(good), sha256.Sum256(rewritten)
	for _, w := range []string{"on cp-2, the snapshot " + file + " changed since preflight", hex.EncodeToString(was[:]), hex.EncodeToString(now[:]),
		"no member was restored"} {
		if !strings.Contains(saw, w) {
			t.Errorf("the operator was not told %q; saw (tail):\n%s", w, tail(saw, 40))
		}
	}
	evs, rerr := lab.ReadTimeline(l.Dir())
	must(t, rerr)
	for _, e := range evs {
		if e.Kind != lab.EvSSHExec || e.Time.Before(gateOpened) {
			continue
		}
		if strings.Contains(e.Command, "snapshot restore") || strings.Contains(e.Command, "etcd.yaml") {
			t.Errorf("%s ran %q after the snapshot changed: a member was stopped or restored", e.Node, clip(e.Command))
		}
	}
	requireSafety(t, l.Dir())
	requireFileOnNode(t, l, "cp-2", file, rewritten) // read only, never put back
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// runEngineWith is runEngine with the engine's options adjusted.
func runEngineWith(t *testing.T, cluster string, adjust func(*steps.Options)) (string, error) {
	t.Helper()
	var saw bytes.Buffer
	s, err := openSessionWith(engineFlags{file: cluster}, &saw, adjust)
	if err != nil {
		return saw.String(), err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sc, err := headless(ctx, s, "drill", &saw)
	if sc != nil {
		saw.WriteString(sc.Text())
	}
	return saw.String(), err
}
