package nodes

import (
	"context"
	"errors"
	"github.com/etcd-dr/etcd-dr/config"
	"strings"
	"testing"
	"time"
)

func TestASilentNodeIsDeclaredDeadWithin15sAndRedialedLater(t *testing.T) {
	e := newEnv(t)
	inTarget, inNode := e.inproc(t, "cp-1", nil)
	sshTarget, sshd := e.sshd(t, "cp-2")
	tests := []struct {
		name   string
		target Target
		// silence makes the node stop talking and returns how to resume.
		silence func(t *testing.T) (resume func())
	}{
		{name: "an in-process node whose I/O is paused", target: inTarget, silence: func(*testing.T) func() {
			inNode.Server.Pause()
			return inNode.Server.Resume
		}},
		{name: "an OpenSSH node whose connection processes got SIGSTOP", target: sshTarget, silence: func(t *testing.T) func() {
			return sshd.StopConnections(t)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The default interval (5s) declares death within 15s; 1s keeps
			// the test short and proves the same mechanism.
			r := e.runner(t, []Target{tt.target}, func(p *Params) { p.Keepalive = time.Second })
			node := tt.target.Name
			if _, err := r.Run(context.Background(), node, Cmd{Args: []string{"true"}}, nil); err != nil {
				t.Fatal(err)
			}
			started := make(chan struct{})
			done := make(chan Result, 1)
			go func() {
				res, _ := r.Run(context.Background(), node, Cmd{Script: "echo running; sleep 60"}, func(Line) { close(started) })
				done <- res
			}()
			<-started
			resume := tt.silence(t)
			silentSince := time.Now()
			var res Result
			select {
			case res = <-done:
			case <-time.After(15 * time.Second):
				resume()
				t.Fatal("running command not failed within 15s of silence")
			}
			took := time.Since(silentSince)
			var dead *NodeDeadError
			if !errors.As(res.Err, &dead) || res.ExitCode != -1 || !strings.Contains(res.Err.Error(), "node "+node+" ") ||
				!strings.Contains(res.Err.Error(), "stopped answering SSH keepalives") {
				t.Fatalf("want NodeDeadError naming %s, got %v (code %d)", node, res.Err, res.ExitCode)
			}
			// Two intervals of silence (2s); slack for a loaded CI machine.
			if took > 6*time.Second {
				t.Errorf("declared dead after %v; want about 2 intervals (2s)", took)
			}
			resume()
			if _, err := r.Run(context.Background(), node, Cmd{Args: []string{"true"}}, nil); err != nil {
				t.Fatalf("no redial after the node came back: %v", err)
			}
		})
	}
}

func TestTheDefaultKeepaliveDeclaresDeathWithin15s(t *testing.T) {
	if got := 2 * config.DefaultKeepalive; got > 15*time.Second {
		t.Fatalf("2 x config.DefaultKeepalive = %v > 15s", got)
	}
	e := newEnv(t)
	r := e.runner(t, nil, nil)
	if r.p.Keepalive != config.DefaultKeepalive {
		t.Fatalf("zero Keepalive became %v", r.p.Keepalive)
	}
}

func TestACommandStartedAfterTheNodeDiedDialsAgain(t *testing.T) {
	e := newEnv(t)
	tg, node := e.inproc(t, "cp-1", nil)
	r := e.runner(t, []Target{tg}, func(p *Params) { p.Keepalive = 200 * time.Millisecond })
	if _, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
		t.Fatal(err)
	}
	first, _ := r.conn(context.Background(), "cp-1")
	node.Server.Pause()
	select {
	case <-first.done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not declared dead")
	}
	node.Server.Resume()
	res, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"echo", "again"}}, nil)
	if err != nil || res.Stdout != "again\n" {
		t.Fatalf("got %q %v", res.Stdout, err)
	}
	second, _ := r.conn(context.Background(), "cp-1")
	if second == first {
		t.Fatal("the dead connection was reused")
	}
}

// A node that just went silent is redialed with half a keepalive interval,
// not the whole connect timeout: the step waiting on it must fail within
// the 15 s the operator is promised, not 15 s plus a connect timeout.
func TestANodeThatJustWentSilentIsRedialedBriefly(t *testing.T) {
	e := newEnv(t)
	tg, node := e.inproc(t, "cp-1", nil)
	r := e.runner(t, []Target{tg}, func(p *Params) { p.Keepalive = 400 * time.Millisecond; p.ConnectTimeout = time.Minute })
	if _, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil); err != nil {
		t.Fatal(err)
	}
	first, _ := r.conn(context.Background(), "cp-1")
	node.Server.Pause()
	defer node.Server.Resume()
	select {
	case <-first.done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection not declared dead")
	}
	_, err := r.Run(context.Background(), "cp-1", Cmd{Args: []string{"true"}}, nil)
	var ce *ConnectError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no SSH answer within 200ms") {
		t.Fatalf("redial of a node silent since %v: got %v, want a ConnectError after 200ms (half the keepalive)", time.Since(first.died), err)
	}
}
