package steps

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

func TestASlowClientLosesLogLinesButNeverStateEvents(t *testing.T) {
	// Nobody reads until every event is pushed: twice the bound in lines.
	const perEvent = 64
	events := 2 * maxQueuedLines / perEvent
	q := newEventQueue()
	for i := range events {
		q.push(LogEvent{Lines: make([]LogLine, perEvent)})
		if i%20 == 0 {
			q.push(StepEvent{Why: fmt.Sprint(i)})
		}
	}
	q.close()
	var steps, lines int
	for ev := range q.out {
		switch ev := ev.(type) {
		case StepEvent:
			steps++
		case LogEvent:
			lines += len(ev.Lines)
		}
	}
	if want := (events + 19) / 20; steps != want {
		t.Errorf("delivered %d state events, want all %d", steps, want)
	}
	// The bound is in lines; the pump may hold one event in hand beyond it.
	if lines > maxQueuedLines+perEvent || lines < maxQueuedLines-perEvent {
		t.Errorf("delivered %d log lines, want about the bound %d", lines, maxQueuedLines)
	}
	if lines+q.dropped != events*perEvent {
		t.Errorf("delivered %d + dropped %d lines, want the %d pushed", lines, q.dropped, events*perEvent)
	}
}

// A burst of many nodes' batches under the bound in lines reaches a client
// that reads only after it: the bound counts lines, not events.
func TestABurstOfManyNodesBatchesIsKeptWhole(t *testing.T) {
	q := newEventQueue()
	const nodes, perEvent = 50, 33
	for i := range 20 * nodes { // 20 frames of 50 nodes, 33 000 lines
		q.push(LogEvent{Lines: make([]LogLine, perEvent), At: time.Unix(int64(i), 0)})
	}
	q.close()
	var lines int
	for ev := range q.out {
		lines += len(ev.(LogEvent).Lines)
	}
	if lines != 20*nodes*perEvent || q.dropped != 0 {
		t.Fatalf("delivered %d lines, dropped %d, want all %d", lines, q.dropped, 20*nodes*perEvent)
	}
}

func TestLogLinesAreBatchedPerNodeAndAllReachTheTranscript(t *testing.T) {
	r := newRig(t)
	steps := []Step{{ID: "chatty", Title: "print", Plan: func(c *Context) ([]Action, error) {
		var out []Action
		for _, n := range []string{"cp-1", "cp-2"} {
			out = append(out, Action{Node: n, What: "count", Cmd: nodes.Cmd{Args: []string{"seq", "1", "500"}}})
		}
		return out, nil
	}}}
	e := r.engine(t, func(o *Options) { o.Steps = steps })
	c := drive(e, yes)
	sc, err := e.Run(context.Background())
	c.wait(t)
	if err != nil {
		t.Fatal(err)
	}
	var batches, lines int
	for _, ev := range c.events {
		if le, ok := ev.(LogEvent); ok {
			batches++
			lines += len(le.Lines)
			for _, l := range le.Lines {
				if l.Node != le.Lines[0].Node {
					t.Fatalf("a batch mixes %s and %s", l.Node, le.Lines[0].Node)
				}
			}
		}
	}
	if batches >= lines {
		t.Errorf("%d batches for %d lines: not batched", batches, lines)
	}
	b, err := os.ReadFile(sc.Transcript)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cp-1 test@bastion stdout| 500", "cp-2 test@bastion stdout| 500", "cp-1 test@bastion $ seq 1 500"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
}

// The process and listener checks over real processes and sockets. The
// name is unique so that a drill lab's real kube-apiserver elsewhere on
// this machine cannot disturb the test, and longer than the kernel's
// 15-character process name, as kube-controller-manager is: pgrep -x on
// such a name never matches.
func TestProcessAndListenerChecksSeeRealProcessesAndSockets(t *testing.T) {
	name := fmt.Sprintf("etcddr-controller-manager-t%d", os.Getpid()%100000)
	bin := filepath.Join(t.TempDir(), name)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(sleep)
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	proc := exec.Command(bin, "30")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Process.Kill(); proc.Wait() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { ln.Close() })

	c := oneNode(t, "run-1", "a@b")
	ctx := context.Background()
	if err := c.processGone(ctx, "cp-1", name); err == nil {
		t.Error("processGone passed while the process runs")
	}
	if err := c.noListener(ctx, "cp-1", CompAPIServer, port, []string{"127.0.0.1"}); err == nil {
		t.Errorf("noListener passed while :%d listens", port)
	}
	proc.Process.Kill()
	proc.Wait()
	ln.Close()
	if err := c.processGone(ctx, "cp-1", name); err != nil {
		t.Errorf("processGone after the process ended: %v", err)
	}
	if err := c.noListener(ctx, "cp-1", CompAPIServer, port, []string{"127.0.0.1"}); err != nil {
		t.Errorf("noListener after the socket closed: %v", err)
	}
}

// A check tells its clients what it proved as a field, and the journal
// keeps it: a real socket held, then closed, is the apiserver up, then
// down, whatever the check's words say.
func TestAListenerCheckCarriesItsFactToClientsAndTheJournal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { ln.Close() })
	r := newRig(t)
	e := r.engine(t, func(o *Options) {
		o.Steps = []Step{{ID: StopApiservers, Title: "stop", Verify: func(ctx context.Context, c *Context) error {
			_ = c.noListener(ctx, "cp-1", CompAPIServer, port, []string{"127.0.0.1"}) // held: fails, proves up
			ln.Close()
			return c.noListener(ctx, "cp-1", CompAPIServer, port, []string{"127.0.0.1"})
		}}}
	})
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	var got []Fact
	for _, ev := range c.events {
		if ce, ok := ev.(CheckEvent); ok {
			got = append(got, ce.Fact)
		}
	}
	want := []Fact{{Component: CompAPIServer, State: CompUp}, {Component: CompAPIServer, State: CompDown}}
	if !slices.Equal(got, want) {
		t.Fatalf("check facts = %v, want %v", got, want)
	}
	recs, err := e.opts.Journal.Records()
	if err != nil {
		t.Fatal(err)
	}
	var journaled []Fact
	for _, rec := range recs {
		if rec.Kind == journal.KindCheck {
			journaled = append(journaled, Fact{Component: Component(rec.Component), State: ComponentState(rec.Proves)})
		}
	}
	if !slices.Equal(journaled, want) {
		t.Fatalf("journaled facts = %v, want %v", journaled, want)
	}
	if rb, ok := c.events[0].(RunbookEvent); !ok || len(rb.Steps) != 1 || rb.Steps[0].ID != StopApiservers {
		t.Fatalf("first event = %#v, want the runbook announced", c.events[0])
	}
}
