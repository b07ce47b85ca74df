package steps

import (
	"context"
	"fmt"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// VerifyReportStep checks the end state once more, puts right what the
// operator consented to at its gate (stale master leases, add-on
// restarts), releases the lock, and proves through the API that the cluster
// converged (converge.go); the engine then writes the scorecard.
func VerifyReportStep() Step {
	return Step{
		ID:    VerifyReport,
		Title: "Verify the cluster and release the lock",
		// Why stays as the plans and console goldens know it; the gate's
		// facts say what the convergence checks found to do.
		Why: "One last look at the whole cluster (one etcd cluster, every apiserver ready) before handing it back.",
		Plan: func(c *Context) ([]Action, error) {
			return append(removeStaleLeaseActions(c), releaseActions(c, c.runMark())...), nil
		},
		BeforeGate: surveyConvergence,
		Facts: func(c *Context) []string {
			return append(kubeadmRecordFacts(c), convergeFacts(c)...)
		},
		Run: func(ctx context.Context, c *Context) error {
			if err := verifyRestored(ctx, c); err != nil {
				return err
			}
			if err := c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), c.readyz); err != nil {
				return err
			}
			if err := c.RunActions(ctx, removeStaleLeaseActions(c)); err != nil {
				return err
			}
			if err := c.restartAddons(ctx); err != nil {
				return err
			}
			return ReleaseLock(ctx, c)
		},
		Verify: func(ctx context.Context, c *Context) error {
			err := c.ForEachNode(ctx, names(c.lockNodes()), func(ctx context.Context, node string) error {
				_, err := c.Exec1(ctx, Action{Node: node, What: "check the lock is released",
					Cmd: nodes.Cmd{Args: []string{"test", "!", "-e", c.LockPath}}})
				c.Check(node, "lock released", err == nil, c.LockPath)
				if err != nil {
					return fmt.Errorf("%s is still there: %w", c.LockPath, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			return verifyConverged(ctx, c)
		},
		// A node that does not come back, or another check that does not
		// converge, is the operator's call, as step 5's kubelets are.
		AllowPartial: true,
	}
}
