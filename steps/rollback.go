package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Rollback step IDs (the `etcd-dr rollback` runbook).
const (
	RollbackCheck       StepID = "rollback-check"
	RollbackEtcd        StepID = "rollback-etcd"
	RollbackEtcdServers StepID = "rollback-etcd-servers"
	RollbackDone        StepID = "rollback-done"
)

// rollbackSteps are the rollback's steps (RollbackRunbook lists them).
func rollbackSteps() []Step {
	return []Step{
		{ID: RollbackCheck, Title: "Check the old data dirs are intact and take the lock",
			Why:  "Rolling back onto a missing data dir would start an empty etcd.",
			Plan: rollbackCheckPlan,
			Run: func(ctx context.Context, c *Context) error {
				if err := c.RunActions(ctx, oldDirChecks(c)); err != nil {
					return fmt.Errorf("an old data dir is missing; rollback is not possible there: %w", err)
				}
				return TakeLock(ctx, c)
			},
			Verify: CheckLockHeld, Undo: ReleaseLock},
		StopApiserversStep(),
		{ID: RollbackEtcd, Title: "Point every etcd member back at its old data dir",
			Why:         "Undoes the restore: each member restarts on the data it had before, which was never modified.",
			Destructive: true,
			Plan: func(c *Context) ([]Action, error) {
				var out []Action
				for _, m := range c.Values.Members {
					out = append(out, c.pointBackActions(m, nil).list()...)
				}
				return out, nil
			},
			Facts: func(c *Context) []string {
				var out []string
				for _, m := range c.Values.Members {
					out = append(out, fmt.Sprintf("%s (%s): back to %s", m.Name, m.Node, m.DataDir))
				}
				return append(out, "the restored data dir "+c.val(c.Values.DataDir, PhDataDir)+" stays on disk")
			},
			Run: func(ctx context.Context, c *Context) error {
				ms := c.Values.Members
				for _, wave := range c.stopWaves(ctx, ms) {
					err := c.ForEachNode(ctx, wave, func(ctx context.Context, node string) error {
						return c.pointBack(ctx, memberOn(ms, node))
					})
					if err != nil {
						return err
					}
				}
				return c.startMembersInTurn(ctx, ms)
			},
			Verify: func(ctx context.Context, c *Context) error {
				return verifyOneCluster(ctx, c, 0)
			}},
		{ID: RollbackEtcdServers, Title: "Put back each apiserver's original --etcd-servers",
			Why: "Step 3 may have repointed the apiservers at the restored members' URLs.",
			Run: func(ctx context.Context, c *Context) error {
				return c.ForEachNode(ctx, apiserverNodes(c), func(ctx context.Context, node string) error {
					return c.setEtcdServers(ctx, node, c.apiserverOn(node).EtcdServers)
				})
			},
			Verify: func(ctx context.Context, c *Context) error {
				return c.ForEachNode(ctx, apiserverNodes(c), func(ctx context.Context, node string) error {
					return c.checkEtcdServers(ctx, node, c.apiserverOn(node).EtcdServers)
				})
			}},
		StartApiserversStep(),
		FlushCachesStep(),
		{ID: RollbackDone, Title: "Release the lock", Why: "The cluster is back on its old data.",
			Plan: func(c *Context) ([]Action, error) { return releaseActions(c, c.runMark()), nil },
			Run:  ReleaseLock},
	}
}

func rollbackCheckPlan(c *Context) ([]Action, error) {
	lock, err := lockActions(c)
	return append(oldDirChecks(c), lock...), err
}

func oldDirChecks(c *Context) []Action {
	var out []Action
	for _, m := range c.Values.Members {
		out = append(out, Action{Node: m.Node, What: "check the old data dir " + m.DataDir,
			Cmd: sudo(c.Cluster, "test", "-d", m.DataDir+"/member")})
	}
	return out
}

// pointBackActs are one member's rollback actions, named so that the plan
// (list, in order) and pointBack run the same ones.
type pointBackActs struct {
	stop, point, start Action
}

func (a pointBackActs) list() []Action { return []Action{a.stop, a.point, a.start} }

func (c *Context) pointBackActions(m Member, edited []byte) pointBackActs {
	w := writeAction(c, m.Node, c.etcdConfigFile(), edited)
	w.What = "point " + c.etcdConfigFile() + " back at " + m.DataDir
	w.Changes = c.dataDirChange(m, c.val(c.Values.DataDir, PhDataDir), m.DataDir, m.DataDir != "")
	return pointBackActs{stop: c.stopEtcd(m.Node), point: w, start: c.startEtcd(m.Node)}
}

// pointBack stops m and points it back at its old data dir; the members
// start afterwards, in turn (startMembersInTurn), as after a restore.
func (c *Context) pointBack(ctx context.Context, m Member) error {
	if err := c.stopEtcdAndWait(ctx, m, c.pointBackActions(m, nil).stop); err != nil {
		return err
	}
	res, err := c.Exec1(ctx, catAction(c, m.Node, c.etcdConfigFile()))
	if err != nil {
		return err
	}
	edited, err := c.pointDataDir([]byte(res.Stdout), m.DataDir)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", m.Node, c.etcdConfigFile(), err)
	}
	_, err = c.Exec1(ctx, c.pointBackActions(m, edited).point)
	return err
}

// errNothingToRollBack: no earlier run read the members.
var errNothingToRollBack = errors.New("the journal holds no run that read the members: nothing to roll back to")

// inheritValues returns the latest journaled values that know the members,
// made fresh for a new run: what rollback needs (old data dirs, original
// --etcd-servers), without the restore run's own progress.
func inheritValues(recs []journal.Record) (Values, error) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind != journal.KindValues {
			continue
		}
		var v Values
		if err := json.Unmarshal(recs[i].Values, &v); err != nil || len(v.Members) == 0 {
			continue
		}
		v.Before, v.NotFlushed, v.Accepted, v.NodeLock = nil, nil, nil, ""
		v.NotConverged, v.WatchFrom, v.WatchFromWhy = nil, "", "" // the restore run's convergence proof
		return v, nil
	}
	return Values{}, errNothingToRollBack
}
