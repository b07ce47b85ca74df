package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// The stale-apiserver test uses lab block 167 (see drill_test.go for why
// every test file owns its own range).

// default/kubernetes must list exactly the restored apiservers (issue 18,
// kubernetes/kubernetes#86812), and the verify step's proof of it can fail.
// An apiserver the cluster file does not know (a control-plane node left
// out of it) keeps its master lease alive while the restore runs: here a
// client beside the apiservers rewrites that lease, a real Endpoints value
// of cp-1's with another address in it, as that apiserver's reconciler
// would. The real apiservers' lease reconciler lists it into
// default/kubernetes; removing it behind the verify gate does not last, and
// the step fails naming the stale address. Without the lab's non-loopback
// --advertise-address there was no default/kubernetes to look at, and this
// passed.
func TestAStaleApiserverLeftInDefaultKubernetesFailsTheVerifyStep(t *testing.T) {
	labtest.Block(t, 167)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a cold lab and a whole restore on loaded cores
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 167, Workers: 1})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	const live, stale = "240.167.10.1", "240.167.10.9" // same length: the protobuf value stays valid
	cli, err := l.EtcdClient()
	must(t, err)
	defer cli.Close()
	var value []byte
	for value == nil && ctx.Err() == nil { // cp-1's reconciler writes its lease within 10 s of starting
		if r, err := cli.Get(ctx, "/registry/masterleases/"+live); err == nil && len(r.Kvs) == 1 {
			value = bytes.ReplaceAll(r.Kvs[0].Value, []byte(live), []byte(stale))
		} else {
			time.Sleep(time.Second)
		}
	}
	if !bytes.Contains(value, []byte(stale)) {
		t.Fatalf("no master lease of cp-1 at %s: does the lab's apiserver advertise %s?", live, live)
	}
	wctx, stopWriter := context.WithCancel(ctx)
	written := make(chan struct{})
	go func() {
		defer close(written)
		for wctx.Err() == nil {
			pctx, c := context.WithTimeout(wctx, 2*time.Second) // members are down during step 2
			_, _ = cli.Put(pctx, "/registry/masterleases/"+stale, string(value))
			c()
			time.Sleep(500 * time.Millisecond)
		}
	}()
	saw, err := runEngine(t, l.ClusterFile(), 0)
	stopWriter()
	<-written
	if err == nil {
		t.Fatalf("the run passed with a stale apiserver in default/kubernetes:\n%s", tail(saw, 60))
	}
	for _, w := range []string{"check FAIL cluster  " + steps.CheckAPIEndpoints, "stale [" + stale + "]"} {
		if !strings.Contains(saw, w) {
			t.Errorf("output lacks %q:\n%s", w, tail(saw, 80))
		}
	}
	// The running apiservers themselves are listed: nothing is missing.
	if strings.Contains(saw, "missing ["+live) {
		t.Errorf("a running apiserver was called missing:\n%s", tail(saw, 40))
	}
}
