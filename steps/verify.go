package steps

import (
	"context"
	"fmt"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// VerifyReportStep checks the end state once more, releases the lock, and
// leaves the scorecard to the engine.
func VerifyReportStep() Step {
	return Step{
		ID:    VerifyReport,
		Title: "Verify the cluster and release the lock",
		Why:   "One last look at the whole cluster (one etcd cluster, every apiserver ready) before handing it back.",
		Plan: func(c *Context) ([]Action, error) {
			return releaseActions(c, c.runMark()), nil
		},
		Facts: kubeadmRecordFacts,
		Run: func(ctx context.Context, c *Context) error {
			if err := verifyRestored(ctx, c); err != nil {
				return err
			}
			if err := c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), c.readyz); err != nil {
				return err
			}
			return ReleaseLock(ctx, c)
		},
		Verify: func(ctx context.Context, c *Context) error {
			return c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), func(ctx context.Context, node string) error {
				_, err := c.Exec1(ctx, Action{Node: node, What: "check the lock is released",
					Cmd: nodes.Cmd{Args: []string{"test", "!", "-e", c.LockPath}}})
				c.Check(node, "lock released", err == nil, c.LockPath)
				if err != nil {
					return fmt.Errorf("%s is still there: %w", c.LockPath, err)
				}
				return nil
			})
		},
	}
}
