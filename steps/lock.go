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

// DefaultLockPath is the lock file on every node a destructive step acts
// on (Context.lockNodes). It lives
// outside any etcd data dir so that restoring never touches it.
const DefaultLockPath = "/var/lib/etcd-dr.lock"

// Exit codes of the lock scripts.
const (
	exitLockHeld   = 73 // someone else holds it; the holder is on stdout
	exitLockCreate = 74 // it could not be written (disk full, read-only): the error is on stderr
	exitLockGone   = 75 // fence: the lock file is not there any more
)

// takeOverScript (appended to the scripts below) replaces a lock held by
// an earlier process of this same run ($4 names the run, empty when this
// process cannot prove it is the run's only one) with $2, atomically.
const takeOverScript = `if [ -n "$4" ] && grep -qF -- "$4" "$1"; then t="$1.etcd-dr-$$";
if printf '%s\n' "$2" | tee -- "$t" >/dev/null && mv -f -- "$t" "$1"; then exit 0; fi; rm -f -- "$t"; exit 74; fi
cat -- "$1"; exit 73`

// acquireScript creates lock $1 with content $2 only if it does not exist:
// the content is written to a file of its own first and then hard-linked
// into place (link(2) never replaces an existing file), so a disk that is
// full or read-only fails with its own error (exit 74) and never leaves an
// empty lock behind. A lock naming this process ($3) is already taken.
// Values arrive as positional parameters, never pasted into the script.
const acquireScript = `t="$1.etcd-dr-$$"
if ! printf '%s\n' "$2" | tee -- "$t" >/dev/null; then rm -f -- "$t"; exit 74; fi
if err=$(ln -- "$t" "$1" 2>&1); then rm -f -- "$t"; exit 0; fi
rm -f -- "$t"
if [ ! -e "$1" ]; then printf '%s\n' "$err" >&2; exit 74; fi
if grep -qF -- "$3" "$1"; then exit 0; fi
` + takeOverScript

// fenceScript is the check before a destructive action: the lock $1 still
// names this process ($3), or an earlier process of this run it may take
// over; a lock that is gone or names another run stops the action.
const fenceScript = `if [ ! -e "$1" ]; then exit 75; fi
if grep -qF -- "$3" "$1"; then exit 0; fi
` + takeOverScript

// peekScript reads lock $1 without changing it: free, this process's ($2)
// or, when this process holds the run ($3), this run's is no obstacle;
// anything else is printed as the holder (exit 73), as acquireScript would.
const peekScript = `if [ ! -e "$1" ]; then exit 0; fi
if grep -qF -- "$2" "$1"; then exit 0; fi
if [ -n "$3" ] && grep -qF -- "$3" "$1"; then exit 0; fi
cat -- "$1"; exit 73`

// CheckLockFree refuses, before preflight reads anything else, a run whose
// lock another operator holds on any node it will lock: the holder may
// already have parked manifests, and the operator must learn who holds the
// cluster rather than why a manifest is missing. Read-only; TakeLock at the
// end of preflight is still what takes the lock. --force-unlock skips it.
func CheckLockFree(ctx context.Context, c *Context) error {
	if c.ForceUnlock {
		return nil
	}
	own, run := c.lockMarks()
	return c.ForEachNode(ctx, names(c.lockNodes()), func(ctx context.Context, node string) error {
		_, err := c.Exec1(ctx, peekAction(c, node, own, run))
		return err
	})
}

func peekAction(c *Context, node, own, run string) Action {
	return Action{Node: node, What: "check no other operator holds the lock " + c.LockPath,
		ReadOnly: true, Cmd: shCmd(c.Cluster, peekScript, c.LockPath, own, run), Accept: acceptLock(c, node, false)}
}

// lockNodes are the nodes a destructive step acts on, each holding a lock
// of its own: every control-plane node (its apiserver is parked) and every
// etcd node (its member is restored or pointed back), external etcd nodes
// included. A lock only on the control-plane nodes let a second operator
// who locked an etcd node alone restore that member under this run.
func (c *Context) lockNodes() []config.Node {
	var out []config.Node
	for _, n := range c.Cluster.Nodes {
		if n.Has(config.RoleControlPlane) || n.Has(config.RoleEtcd) {
			out = append(out, n)
		}
	}
	return out
}

// releaseScript removes $1 only if it holds $2 (this run's or this
// process's mark): releasing must never remove another run's lock.
const releaseScript = `if [ ! -e "$1" ]; then exit 0; fi; if grep -qF -- "$2" "$1"; then rm -f -- "$1"; fi`

// LockHolder is what a lock file says.
type LockHolder struct {
	Holder string `json:"holder"` // user@host
	PID    int    `json:"pid"`
	Run    string `json:"run"`
	// Nonce tells the processes of one run apart: a run resumed by a new
	// process takes over the lock of its dead predecessor, never of a live one.
	Nonce string    `json:"nonce,omitempty"`
	Time  time.Time `json:"time"`
}

// LockHeldError says who holds the lock on which node, and what to do.
type LockHeldError struct {
	Node, Path string
	By         LockHolder
	Raw        string // the file's text when it does not decode
	// SameRun: the holder is an earlier process of this same run, and this
	// process cannot prove that one is gone (it holds no state-dir lock).
	SameRun bool
}

func (e *LockHeldError) Error() string {
	who := fmt.Sprintf("%s (run %s, pid %d) since %s", e.By.Holder, e.By.Run, e.By.PID, e.By.Time.Format(time.RFC3339))
	if e.By.Holder == "" {
		who = fmt.Sprintf("an unreadable lock (%q)", e.Raw)
	}
	if e.SameRun {
		return fmt.Sprintf("%s: %s is held by %s, another process of this same run, which may still be running; "+
			"resume the run only from etcd-dr console/run, which lock the state dir", e.Node, e.Path, who)
	}
	return fmt.Sprintf("%s: %s is held by %s; another restore may be running. "+
		"Check with its holder; if it is stale, start again with --force-unlock", e.Node, e.Path, who)
}

// LockCreateError is a lock that could not be written on a node: a full
// disk or a read-only file system, not another operator. --force-unlock
// does not help; the node's own error says what does.
type LockCreateError struct {
	Node, Path string
	Err        string // what the node said
}

func (e *LockCreateError) Error() string {
	return fmt.Sprintf("%s: cannot create the lock %s: %s. No one else holds it (--force-unlock does not help): "+
		"make room on that file system or make it writable, then retry", e.Node, e.Path, e.Err)
}

// LockLostError stops a destructive action: this run no longer holds the
// lock on the node (another operator removed it with --force-unlock).
type LockLostError struct {
	Node, Path string
	By         LockHolder // zero when the lock is gone
	Raw        string
}

func (e *LockLostError) Error() string {
	now := "is gone (removed with --force-unlock or by hand)"
	if e.By.Holder != "" {
		now = fmt.Sprintf("is now held by %s (run %s, pid %d) since %s", e.By.Holder, e.By.Run, e.By.PID, e.By.Time.Format(time.RFC3339))
	} else if e.Raw != "" {
		now = fmt.Sprintf("now says %q", e.Raw)
	}
	return fmt.Sprintf("%s: this run no longer holds the lock %s: it %s. Nothing more is changed on %s: "+
		"another operator took over this cluster; agree with them who restores before doing anything", e.Node, e.Path, now, e.Node)
}

func (c *Context) lockHolder() ([]byte, error) {
	return json.Marshal(LockHolder{Holder: c.Values.Who, PID: c.PID, Run: c.Values.Run, Nonce: c.Nonce, Time: c.Values.StartedAt})
}

// lockMarks are the texts the scripts look for in a lock file: this
// process's own token, and this run's (only when this process holds the
// state-dir lock, which proves no other process of the run is alive).
func (c *Context) lockMarks() (own, run string) {
	own = fmt.Sprintf(`"nonce":%q`, c.Nonce)
	if c.Nonce == "" {
		own = fmt.Sprintf(`"run":%q,"time"`, c.Values.Run) // a plan: no process yet
	}
	if c.OwnsRun {
		run = c.runMark()
	}
	return own, run
}

func lockActions(c *Context) ([]Action, error) {
	holder, err := c.lockHolder()
	if err != nil {
		return nil, err
	}
	own, run := c.lockMarks()
	var out []Action
	for _, n := range c.lockNodes() {
		if c.ForceUnlock {
			out = append(out, Action{Node: n.Name, What: "remove the existing lock (--force-unlock)",
				Cmd: nodes.Cmd{Args: []string{"rm", "-f", "--", c.LockPath}, Sudo: c.Cluster.SSH.Sudo}})
		}
		out = append(out, Action{Node: n.Name, What: "take the lock " + c.LockPath + " so no second operator restores at the same time",
			Cmd: shCmd(c.Cluster, acquireScript, c.LockPath, string(holder), own, run), Accept: acceptLock(c, n.Name, false)})
	}
	return out, nil
}

// acceptLock reads the lock scripts' outcome: taken (exit 0), held by
// someone else, gone (fence only), or not writable on the node.
func acceptLock(c *Context, node string, fence bool) func(nodes.Result) error {
	return func(r nodes.Result) error {
		switch r.ExitCode {
		case 0:
			return nil
		case exitLockCreate:
			return &LockCreateError{Node: node, Path: c.LockPath, Err: strings.TrimSpace(nodes.StderrWithoutSudoWarnings(r.Stderr))}
		case exitLockGone:
			return &LockLostError{Node: node, Path: c.LockPath}
		case exitLockHeld:
		default:
			return fmt.Errorf("exit %d: %s", r.ExitCode, strings.TrimSpace(nodes.StderrWithoutSudoWarnings(r.Stderr)))
		}
		raw := strings.TrimSpace(r.Stdout)
		var h LockHolder
		if json.Unmarshal([]byte(raw), &h) != nil {
			h = LockHolder{}
		}
		if fence {
			return &LockLostError{Node: node, Path: c.LockPath, By: h, Raw: raw}
		}
		return &LockHeldError{Node: node, Path: c.LockPath, By: h, Raw: raw, SameRun: h.Run != "" && h.Run == c.Values.Run}
	}
}

// TakeLock takes the lock on every node of lockNodes (journaled). A lock
// held by another run is refused with its holder and time, and the locks
// this attempt took on the other nodes are released: two runs each
// holding some nodes would wait on each other for ever.
func TakeLock(ctx context.Context, c *Context) error {
	actions, err := lockActions(c)
	if err != nil {
		return err
	}
	if c.ForceUnlock {
		if err := c.Journal(journal.Record{Kind: journal.KindLock, State: "force-unlock", Who: c.Values.Who,
			Why: "lock removed with --force-unlock on every control-plane and etcd node"}); err != nil {
			return err
		}
	}
	err = c.RunActions(ctx, actions)
	state, why := "taken", c.LockPath
	if err != nil {
		state, why = "refused", err.Error()
		own, _ := c.lockMarks() // only what this process took: never a live predecessor's
		if rerr := c.RunActions(ctx, releaseActions(c, own)); rerr != nil {
			err = errors.Join(err, fmt.Errorf("releasing this run's locks after the refusal: %w", rerr))
		}
	}
	if jerr := c.Journal(journal.Record{Kind: journal.KindLock, State: state, Why: why}); jerr != nil && err == nil {
		err = jerr
	}
	if err != nil {
		return err
	}
	// Only once: a retried preflight must not remove a lock it now holds.
	c.ForceUnlock = false
	c.Values.NodeLock = c.LockPath
	return c.SaveValues()
}

// ReleaseLock removes this run's lock from every node of lockNodes.
func ReleaseLock(ctx context.Context, c *Context) error {
	err := c.RunActions(ctx, releaseActions(c, c.runMark()))
	if err == nil {
		err = c.Journal(journal.Record{Kind: journal.KindLock, State: "released"})
	}
	if err == nil {
		c.Values.NodeLock = ""
		err = c.SaveValues()
	}
	return err
}

func releaseActions(c *Context, mark string) []Action {
	var out []Action
	for _, n := range c.lockNodes() {
		out = append(out, Action{Node: n.Name, What: "release the lock " + c.LockPath + ": the restore is over",
			Cmd: shCmd(c.Cluster, releaseScript, c.LockPath, mark)})
	}
	return out
}

// runMark is how a lock of this run reads, whichever process took it.
func (c *Context) runMark() string { return fmt.Sprintf(`"run":%q`, c.Values.Run) }

// CheckLockHeld verifies that this run still holds the lock everywhere
// (taking over an earlier process's lock of this run, see fenceAction).
func CheckLockHeld(ctx context.Context, c *Context) error {
	return c.ForEachNode(ctx, names(c.lockNodes()), func(ctx context.Context, node string) error {
		err := c.fence(ctx, node)
		c.Check(node, "lock held by this run", err == nil, c.LockPath)
		return err
	})
}

// fenceAction checks, right before a destructive action on node, that
// this process still holds the lock there. A run resumed by a new process
// (after kill -9) takes over its own run's lock here, and only then: the
// state-dir lock it holds proves the run's earlier process is gone.
func (c *Context) fenceAction(node string) (Action, error) {
	holder, err := c.lockHolder()
	if err != nil {
		return Action{}, err
	}
	own, run := c.lockMarks()
	return Action{Node: node, What: "check this run still holds the lock " + c.LockPath, ReadOnly: true,
		Cmd:    shCmd(c.Cluster, fenceScript, c.LockPath, string(holder), own, run),
		Accept: acceptLock(c, node, true)}, nil
}

func (c *Context) fence(ctx context.Context, node string) error {
	a, err := c.fenceAction(c.lockedNodeFor(node))
	if err != nil {
		return err
	}
	_, err = c.Exec1(ctx, a)
	return err
}

// lockedNodeFor is where the lock guarding an action on node lies: the node
// itself when it holds one (lockNodes: every node a destructive step acts
// on), else the first locked node, so that an action elsewhere is still
// stopped by a takeover.
func (c *Context) lockedNodeFor(node string) string {
	locked := c.lockNodes()
	for _, n := range locked {
		if n.Name == node {
			return node
		}
	}
	if len(locked) == 0 {
		return node
	}
	return locked[0].Name
}
