package steps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	goleak.VerifyTestMain(m)
}

// testCluster is three control-plane nodes and a worker, reached by localExec.
func testCluster(stateDir string) *config.Cluster {
	return &config.Cluster{
		Name:  "drill-eu1",
		SSH:   config.SSH{Concurrency: 2},
		State: config.State{Dir: stateDir},
		Etcd:  config.Etcd{Mode: config.EtcdModeStaticPod, ManifestsDir: "/etc/kubernetes/manifests", ParkDir: "/etc/kubernetes/parked"},
		Nodes: []config.Node{
			{Name: "cp-1", Roles: []string{config.RoleControlPlane, config.RoleEtcd}},
			{Name: "cp-2", Roles: []string{config.RoleControlPlane, config.RoleEtcd}},
			{Name: "cp-3", Roles: []string{config.RoleControlPlane, config.RoleEtcd}},
			{Name: "w-1", Roles: []string{config.RoleWorker}},
		},
	}
}

// fileSteps is a small runbook over real files in dir: decide a token
// once (like preflight), then a destructive step that writes it on every
// node, then a step whose post-condition the test controls.
func fileSteps(dir string) []Step {
	// onEach runs script on every node with $1 = the node's file, $2... = args.
	onEach := func(c *Context, what, script string, args ...string) []Action {
		var out []Action
		for _, n := range c.Cluster.Nodes {
			a := append([]string{"sh", "-c", script, "etcd-dr", filepath.Join(dir, n.Name)}, args...)
			out = append(out, Action{Node: n.Name, What: what, Cmd: nodes.Cmd{Args: a}})
		}
		return out
	}
	return []Step{
		{ID: "decide", Title: "Decide the token", Why: "once per run",
			Run: func(ctx context.Context, c *Context) error {
				if c.Values.Token == "" {
					b := make([]byte, 8)
					rand.Read(b)
					c.Values.Token = hex.EncodeToString(b)
					return c.SaveValues()
				}
				return nil
			},
			Verify: func(ctx context.Context, c *Context) error {
				if c.Values.Token == "" {
					return fmt.Errorf("no token decided")
				}
				return nil
			}},
		{ID: "write", Title: "Write the token on every node", Why: "destructive", Destructive: true,
			Plan: func(c *Context) ([]Action, error) {
				return onEach(c, "write token", `[ -e "$1" ] && [ "$(cat "$1")" = "$2" ] && exit 0; `+
					`[ -z "$SLOW" ] || sleep 30; printf %s "$2" > "$1"`, c.Values.Token), nil
			},
			Verify: func(ctx context.Context, c *Context) error {
				for _, n := range c.Cluster.Nodes {
					b, err := os.ReadFile(filepath.Join(dir, n.Name))
					ok := err == nil && string(b) == c.Values.Token
					c.Check(n.Name, "token written", ok, "")
					if !ok {
						return &NodeError{Node: n.Name, Err: fmt.Errorf("token not written")}
					}
				}
				return nil
			},
			Undo: func(ctx context.Context, c *Context) error {
				return c.RunActions(ctx, onEach(c, "remove token", `rm -f -- "$1"`))
			}},
		{ID: "ready", Title: "Wait for ready", Why: "the test decides",
			Verify: func(ctx context.Context, c *Context) error {
				if _, err := os.Stat(filepath.Join(dir, "ready")); err != nil {
					return &PartialError{Nodes: []string{"w-1"}, Why: "not ready"}
				}
				return nil
			}, AllowPartial: true},
	}
}

// client answers gates the way a console or headless printer would, and
// keeps every event for the test to read.
type client struct {
	mu     sync.Mutex
	events []Event
	gates  []Gate
	done   chan struct{}
}

// drive reads e's events until closed, answering each gate with decide.
func drive(e *Engine, decide func(g Gate, n int) Decision) *client {
	c := &client{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev := range e.Events() {
			c.mu.Lock()
			c.events = append(c.events, ev)
			var g *Gate
			if ge, ok := ev.(GateEvent); ok {
				c.gates = append(c.gates, ge.Gate)
				g = &ge.Gate
			}
			n := len(c.gates)
			c.mu.Unlock()
			if g != nil {
				e.Decide(decide(*g, n))
			}
		}
	}()
	return c
}

func (c *client) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("events channel never closed")
	}
}

// yes confirms every gate with the right name, and backs out of failure
// gates (a test that expects one answers it itself).
func yes(g Gate, _ int) Decision {
	return Decision{Proceed: len(g.Choices) == 0, Typed: g.Cluster, By: "test@bastion"}
}

type rig struct {
	dir, state string
	cluster    *config.Cluster
	exec       *localExec
}

func newRig(t *testing.T) *rig {
	t.Helper()
	state := t.TempDir()
	return &rig{dir: t.TempDir(), state: state, cluster: testCluster(state), exec: &localExec{}}
}

// engine opens the journal and an engine over the rig's file steps.
func (r *rig) engine(t *testing.T, mod func(*Options)) *Engine {
	t.Helper()
	j, err := journal.Open(r.state, r.cluster.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	o := Options{Cluster: r.cluster, Exec: r.exec, Journal: j, Steps: fileSteps(r.dir), Who: "test@bastion",
		Poll: 20 * time.Millisecond, Deadline: time.Second, LogEvery: 10 * time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (r *rig) records(t *testing.T) []journal.Record {
	t.Helper()
	recs, err := journal.ReadFile(filepath.Join(journal.Dir(r.state, r.cluster.Name), "journal.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func (r *rig) markReady(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "ready"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}
