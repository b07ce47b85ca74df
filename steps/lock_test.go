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

// oneNode is a context over a single control-plane node on this machine,
// so the lock file is a real file in a temp dir.
var startOfDrill = time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)

func oneNode(t *testing.T, run, who string) *Context {
	t.Helper()
	cl := &config.Cluster{Name: "c", SSH: config.SSH{Concurrency: 4},
		Nodes: []config.Node{{Name: "cp-1", Roles: []string{config.RoleControlPlane}}}}
	return &Context{Cluster: cl, Exec: &localExec{}, LockPath: filepath.Join(t.TempDir(), "etcd-dr.lock"), PID: 4242,
		Values: Values{Run: run, Who: who, StartedAt: time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)},
		Poll:   10 * time.Millisecond, Deadline: time.Second}
}

func TestLock(t *testing.T) {
	ctx := context.Background()
	t.Run("a second run is refused with the holder and time", func(t *testing.T) {
		first := oneNode(t, "run-1", "alice@bastion")
		if err := TakeLock(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := oneNode(t, "run-2", "bob@bastion")
		second.LockPath = first.LockPath
		err := TakeLock(ctx, second)
		var held *LockHeldError
		if !errors.As(err, &held) {
			t.Fatalf("TakeLock = %v, want LockHeldError", err)
		}
		for _, want := range []string{"cp-1", "alice@bastion", "run-1", "2026-11-24T03:00:00Z", "--force-unlock"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal %q does not say %q", err, want)
			}
		}
	})
	t.Run("the same run takes its own lock again after a resume", func(t *testing.T) {
		c := oneNode(t, "run-1", "alice@bastion")
		for range 2 {
			if err := TakeLock(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := CheckLockHeld(ctx, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("force-unlock replaces a stale lock", func(t *testing.T) {
		stale := oneNode(t, "run-1", "alice@bastion")
		TakeLock(ctx, stale)
		c := oneNode(t, "run-2", "bob@bastion")
		c.LockPath, c.ForceUnlock = stale.LockPath, true
		if err := TakeLock(ctx, c); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(c.LockPath)
		if !strings.Contains(string(b), `"run":"run-2"`) || !strings.Contains(string(b), `"pid":4242`) {
			t.Errorf("lock after force-unlock says %s", b)
		}
	})
	t.Run("release removes only this run's lock", func(t *testing.T) {
		owner := oneNode(t, "run-1", "alice@bastion")
		TakeLock(ctx, owner)
		other := oneNode(t, "run-2", "bob@bastion")
		other.LockPath = owner.LockPath
		ReleaseLock(ctx, other)
		if _, err := os.Stat(owner.LockPath); err != nil {
			t.Fatalf("another run's release removed the lock: %v", err)
		}
		if err := ReleaseLock(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(owner.LockPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("lock still there after its run released it: %v", err)
		}
	})
}

// The node lock tells processes apart, not only runs (issue 15 item 1).
func TestTheNodeLockTellsProcessesOfOneRunApart(t *testing.T) {
	ctx := context.Background()
	t.Run("a second process of the same run is refused unless it holds the state-dir lock", func(t *testing.T) {
		first := oneNode(t, "run-1", "alice@bastion")
		first.Nonce = "first"
		if err := TakeLock(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := oneNode(t, "run-1", "alice@bastion")
		second.LockPath, second.Nonce = first.LockPath, "second"
		err := TakeLock(ctx, second)
		var held *LockHeldError
		if !errors.As(err, &held) || !held.SameRun {
			t.Fatalf("TakeLock by a second process of the run = %v, want refused (same run)", err)
		}
		if err := CheckLockHeld(ctx, second); err == nil {
			t.Error("the fence accepted a lock of another live process of this run")
		}
	})
	t.Run("a resumed process holding the state-dir lock takes over its run's lock", func(t *testing.T) {
		dead := oneNode(t, "run-1", "alice@bastion")
		dead.Nonce = "killed-9"
		if err := TakeLock(ctx, dead); err != nil {
			t.Fatal(err)
		}
		resumed := oneNode(t, "run-1", "alice@bastion")
		resumed.LockPath, resumed.Nonce, resumed.OwnsRun = dead.LockPath, "resumed", true
		if err := CheckLockHeld(ctx, resumed); err != nil {
			t.Fatalf("the resumed run's fence: %v", err)
		}
		if b, _ := os.ReadFile(resumed.LockPath); !strings.Contains(string(b), `"nonce":"resumed"`) {
			t.Errorf("the lock after the takeover says %s", b)
		}
		if err := CheckLockHeld(ctx, dead); err == nil {
			t.Error("the killed process's token still passes the fence after the takeover")
		}
	})
	t.Run("owning the state dir never takes over another run's lock", func(t *testing.T) {
		other := oneNode(t, "run-1", "alice@bastion")
		other.Nonce = "a"
		if err := TakeLock(ctx, other); err != nil {
			t.Fatal(err)
		}
		c := oneNode(t, "run-2", "bob@bastion")
		c.LockPath, c.Nonce, c.OwnsRun = other.LockPath, "b", true
		var held *LockHeldError
		if err := TakeLock(ctx, c); !errors.As(err, &held) || held.SameRun {
			t.Fatalf("TakeLock = %v, want held by run-1", err)
		}
	})
}

// A lock that cannot be created reports the node's own error, and does
// not send the operator to --force-unlock (issue 15 item 14).
func TestALockThatCannotBeCreatedSaysWhyAndNotForceUnlock(t *testing.T) {
	c := oneNode(t, "run-1", "alice@bastion")
	c.LockPath = filepath.Join(t.TempDir(), "no-such-dir", "etcd-dr.lock")
	err := TakeLock(context.Background(), c)
	var ce *LockCreateError
	if !errors.As(err, &ce) {
		t.Fatalf("TakeLock = %v, want LockCreateError", err)
	}
	if !strings.Contains(err.Error(), "No such file or directory") || strings.Contains(err.Error(), "unreadable") ||
		strings.Contains(err.Error(), "start again with --force-unlock") {
		t.Errorf("the error does not name the node's own error (or suggests --force-unlock): %v", err)
	}
	if _, serr := os.Stat(filepath.Dir(c.LockPath)); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("the failed attempt left something behind: %v", serr)
	}
}

// On a node whose name does not resolve, sudo's warning comes first on
// stderr; the lock error is the node's own, without it.
func TestALockErrorLeavesOutSudosHostWarning(t *testing.T) {
	c := oneNode(t, "run-1", "alice@bastion")
	accept := acceptLock(c, "cp-1", false)
	err := accept(nodes.Result{ExitCode: exitLockCreate,
		Stderr: "sudo: unable to resolve host cp-1: Name or service not known\nln: failed to create hard link '/var/lib/etcd-dr-lock/etcd-dr.lock': No space left on device\n"})
	var ce *LockCreateError
	if !errors.As(err, &ce) {
		t.Fatalf("accept = %v, want LockCreateError", err)
	}
	if strings.Contains(ce.Err, "unable to resolve host") || !strings.Contains(ce.Err, "No space left on device") {
		t.Errorf("LockCreateError.Err = %q, want the node's own error alone", ce.Err)
	}
}
