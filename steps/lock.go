package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// DefaultLockPath is the lock file on every control-plane node. It lives
// outside any etcd data dir so that restoring never touches it.
const DefaultLockPath = "/var/lib/etcd-dr.lock"

// exitLockHeld is what acquireScript exits with when someone else holds it.
const exitLockHeld = 73

// acquireScript creates $1 with content $2 only if it does not exist
// (noclobber is atomic: O_EXCL), else prints the holder and exits 73.
// Values arrive as positional parameters, never pasted into the script.
const acquireScript = `set -C; if printf '%s\n' "$2" 2>/dev/null >"$1"; then exit 0; fi; cat -- "$1"; exit 73`

// releaseScript removes $1 only if it names run $2: releasing must never
// remove another run's lock.
const releaseScript = `if [ ! -e "$1" ]; then exit 0; fi; grep -qF -- "\"run\":\"$2\"" "$1" && rm -f -- "$1"`

// LockHolder is what a lock file says.
type LockHolder struct {
	Holder string    `json:"holder"` // user@host
	PID    int       `json:"pid"`
	Run    string    `json:"run"`
	Time   time.Time `json:"time"`
}

// LockHeldError says who holds the lock on which node, and what to do.
type LockHeldError struct {
	Node, Path string
	By         LockHolder
	Raw        string // the file's text when it does not decode
}

func (e *LockHeldError) Error() string {
	who := fmt.Sprintf("%s (run %s, pid %d) since %s", e.By.Holder, e.By.Run, e.By.PID, e.By.Time.Format(time.RFC3339))
	if e.By.Holder == "" {
		who = fmt.Sprintf("an unreadable lock (%q)", e.Raw)
	}
	return fmt.Sprintf("%s: %s is held by %s; another restore may be running. "+
		"Check with its holder; if it is stale, start again with --force-unlock", e.Node, e.Path, who)
}

func shCmd(c *config.Cluster, script string, args ...string) nodes.Cmd {
	return nodes.Cmd{Args: append([]string{"sh", "-c", script, "etcd-dr"}, args...), Sudo: c.SSH.Sudo}
}

func lockActions(c *Context) ([]Action, error) {
	holder, err := json.Marshal(LockHolder{Holder: c.Values.Who, PID: c.PID, Run: c.Values.Run, Time: c.Values.StartedAt})
	if err != nil {
		return nil, err
	}
	var out []Action
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		if c.ForceUnlock {
			out = append(out, Action{Node: n.Name, What: "remove the existing lock (--force-unlock)",
				Cmd: nodes.Cmd{Args: []string{"rm", "-f", "--", c.LockPath}, Sudo: c.Cluster.SSH.Sudo}})
		}
		out = append(out, Action{Node: n.Name, What: "take the lock " + c.LockPath + " so no second operator restores at the same time",
			Cmd: shCmd(c.Cluster, acquireScript, c.LockPath, string(holder)), Accept: acceptOwnLock(c, n.Name)})
	}
	return out, nil
}

// acceptOwnLock treats a lock held by this same run as taken: a resumed
// run re-takes its own lock, and only its own.
func acceptOwnLock(c *Context, node string) func(nodes.Result) error {
	return func(r nodes.Result) error {
		if r.ExitCode == 0 {
			return nil
		}
		if r.ExitCode != exitLockHeld {
			return fmt.Errorf("exit %d: %s", r.ExitCode, strings.TrimSpace(r.Stderr))
		}
		raw := strings.TrimSpace(r.Stdout)
		var h LockHolder
		if json.Unmarshal([]byte(raw), &h) == nil && h.Run == c.Values.Run && h.Run != "" {
			return nil
		}
		return &LockHeldError{Node: node, Path: c.LockPath, By: h, Raw: raw}
	}
}

// TakeLock takes the lock on every control-plane node (journaled). A lock
// held by another run is refused with its holder and time.
func TakeLock(ctx context.Context, c *Context) error {
	actions, err := lockActions(c)
	if err != nil {
		return err
	}
	if c.ForceUnlock {
		if err := c.Journal(journal.Record{Kind: journal.KindLock, State: "force-unlock", Who: c.Values.Who,
			Why: "lock removed with --force-unlock on every control-plane node"}); err != nil {
			return err
		}
	}
	err = c.RunActions(ctx, actions)
	state, why := "taken", c.LockPath
	var held *LockHeldError
	if errors.As(err, &held) {
		state, why = "refused", held.Error()
	}
	if jerr := c.Journal(journal.Record{Kind: journal.KindLock, State: state, Why: why}); jerr != nil && err == nil {
		err = jerr
	}
	if err == nil {
		// Only once: a retried preflight must not remove a lock it now holds.
		c.ForceUnlock = false
	}
	return err
}

// ReleaseLock removes this run's lock from every control-plane node.
func ReleaseLock(ctx context.Context, c *Context) error {
	err := c.RunActions(ctx, releaseActions(c))
	if err == nil {
		err = c.Journal(journal.Record{Kind: journal.KindLock, State: "released"})
	}
	return err
}

func releaseActions(c *Context) []Action {
	var out []Action
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		out = append(out, Action{Node: n.Name, What: "release the lock " + c.LockPath + ": the restore is over",
			Cmd: shCmd(c.Cluster, releaseScript, c.LockPath, c.Values.Run)})
	}
	return out
}

// CheckLockHeld verifies that this run still holds the lock everywhere.
func CheckLockHeld(ctx context.Context, c *Context) error {
	return c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), func(ctx context.Context, node string) error {
		res, err := c.Exec1(ctx, Action{Node: node, What: "read the lock",
			Cmd: nodes.Cmd{Args: []string{"cat", "--", c.LockPath}, Sudo: c.Cluster.SSH.Sudo}})
		if err != nil {
			return err
		}
		var h LockHolder
		ok := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &h) == nil && h.Run == c.Values.Run
		c.Check(node, "lock held by this run", ok, h.Holder+" "+h.Run)
		if !ok {
			return &LockHeldError{Node: node, Path: c.LockPath, By: h, Raw: res.Stdout}
		}
		return nil
	})
}

func names(ns []config.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}
