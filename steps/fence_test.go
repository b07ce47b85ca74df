package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// lockPlaceholder in a command's arguments is replaced, per node, by that
// node's own lock file: localExec runs every node on this machine, and
// each node must have its own lock, as on real nodes.
const lockPlaceholder = "/NODE-LOCK"

type perNodeLock struct {
	x   *localExec
	dir string
}

func (p perNodeLock) path(node string) string { return filepath.Join(p.dir, node+".lock") }

func (p perNodeLock) Run(ctx context.Context, node string, cmd nodes.Cmd, onLine func(nodes.Line)) (nodes.Result, error) {
	args := append([]string(nil), cmd.Args...)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, lockPlaceholder, p.path(node))
	}
	cmd.Args = args
	return p.x.Run(ctx, node, cmd, onLine)
}

// threeControlPlanes is a context over cp-1..3, each with its own lock file.
func threeControlPlanes(t *testing.T, run, who string) (*Context, perNodeLock) {
	t.Helper()
	cl := &config.Cluster{Name: "c", SSH: config.SSH{Concurrency: 4}}
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		cl.Nodes = append(cl.Nodes, config.Node{Name: n, Roles: []string{config.RoleControlPlane}})
	}
	ex := perNodeLock{x: &localExec{}, dir: t.TempDir()}
	return &Context{Cluster: cl, Exec: ex, LockPath: lockPlaceholder, PID: 4242, Nonce: run + "-nonce",
		Values: Values{Run: run, Who: who, StartedAt: startOfDrill}, Poll: 10 * time.Millisecond, Deadline: time.Second}, ex
}

// A lock refused on one node releases what this attempt took on the
// others (issue 15 item 4): two runs each holding some nodes would wait
// on each other for ever.
func TestARefusedLockReleasesTheLocksItTookOnTheOtherNodes(t *testing.T) {
	c, ex := threeControlPlanes(t, "run-b", "bob@bastion")
	other := `{"holder":"alice@bastion","pid":1,"run":"run-a","nonce":"x","time":"2026-11-24T03:00:00Z"}` + "\n"
	if err := os.WriteFile(ex.path("cp-2"), []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	err := TakeLock(context.Background(), c)
	var held *LockHeldError
	if !errors.As(err, &held) || held.Node != "cp-2" {
		t.Fatalf("TakeLock = %v, want cp-2 held by alice", err)
	}
	for _, n := range []string{"cp-1", "cp-3"} {
		if _, err := os.Stat(ex.path(n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused run left its lock behind (%v)", n, err)
		}
	}
	if b, _ := os.ReadFile(ex.path("cp-2")); string(b) != other {
		t.Errorf("cp-2: the other run's lock was changed: %s", b)
	}
}

// Fencing (issue 15 item 4): a run waiting at the step-1 gate while
// another operator takes the lock with --force-unlock refuses its step 1
// with a clear message, and parks nothing.
func TestARunWhoseLockWasForceUnlockedAtTheGateChangesNothing(t *testing.T) {
	r := newRig(t)
	c, ex := threeControlPlanes(t, "", "")
	r.cluster.Nodes = c.Cluster.Nodes
	parked := filepath.Join(r.dir, "parked")
	steps := []Step{
		{ID: Preflight, Title: "take the lock", Run: TakeLock, Verify: CheckLockHeld},
		{ID: StopApiservers, Title: "park", Destructive: true, Plan: func(c *Context) ([]Action, error) {
			var out []Action
			for _, n := range c.Cluster.Nodes {
				out = append(out, Action{Node: n.Name, What: "park", Cmd: nodes.Cmd{Args: []string{"sh", "-c", `echo "$NODE" >>"$1"`, "park", parked}}})
			}
			return out, nil
		}},
	}
	e := r.engine(t, func(o *Options) { o.Steps, o.Exec, o.LockPath = steps, ex, lockPlaceholder })
	client := drive(e, func(g Gate, n int) Decision {
		if g.Step == StopApiservers && len(g.Choices) == 0 {
			// Another operator, on another bastion, forces the lock away.
			b, _ := threeControlPlanes(t, "run-b", "bob@bastion2")
			b.Exec, b.ForceUnlock = ex, true
			if err := TakeLock(context.Background(), b); err != nil {
				t.Errorf("the other operator's --force-unlock: %v", err)
			}
		}
		return yes(g, n)
	})
	_, err := e.Run(context.Background())
	client.wait(t)
	if err == nil {
		t.Fatal("the run finished although its lock was taken over at the step-1 gate")
	}
	refused := false
	for _, g := range client.gates {
		if g.Step == StopApiservers && len(g.Choices) > 0 {
			refused = true
			for _, want := range []string{"no longer holds the lock", "bob@bastion2", "run-b"} {
				if !strings.Contains(g.Failure, want) {
					t.Errorf("the failure does not say %q: %s", want, g.Failure)
				}
			}
		}
	}
	if !refused {
		t.Errorf("step 1 did not fail; run = %v", err)
	}
	if b, err := os.ReadFile(parked); err == nil {
		t.Errorf("step 1 ran after the lock was lost, on: %s", b)
	}
}
