package steps

import (
	"context"
	"fmt"

	"github.com/etcd-dr/etcd-dr/config"
)

const apiserverManifest = "kube-apiserver.yaml"

// StopApiserversStep parks every kube-apiserver: an apiserver left running
// would write its stale cache back into the restored etcd.
func StopApiserversStep() Step {
	return Step{
		ID:          StopApiservers,
		Title:       "Stop every kube-apiserver",
		Why:         "An apiserver still running during the restore writes its stale cache and watches back into etcd and corrupts the restored state.",
		Destructive: true,
		Facts: func(c *Context) []string {
			return append(readinessFacts(c), stopWaitFacts(c)...) // readiness_run.go, stop_wait.go
		},
		Waits: apiserverStopWaits,
		Plan: func(c *Context) ([]Action, error) {
			var out []Action
			for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
				out = append(out, parkAction(c, n.Name, apiserverManifest))
			}
			return out, nil
		},
		Verify: func(ctx context.Context, c *Context) error {
			return c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), func(ctx context.Context, node string) error {
				port := c.apiserverPort(node)
				// The kubelet takes its time to stop the pod: the wait is
				// sized from the manifest's grace period (stop_wait.go).
				w := c.apiserverStopWait(node)
				err := c.waitWithin(ctx, w.Deadline, c.Poll, fmt.Sprintf("kube-apiserver stopped on %s", node), func(ctx context.Context) error {
					if err := c.processGone(ctx, node, "kube-apiserver"); err != nil {
						return err
					}
					return c.noListener(ctx, node, CompAPIServer, port, []string{c.apiserverHost(node)})
				})
				return c.parkedPodGone(node, "kube-apiserver", stopTimedOut(w, err))
			})
		},
		Undo: func(ctx context.Context, c *Context) error {
			var out []Action
			for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
				out = append(out, unparkAction(c, n.Name, apiserverManifest))
			}
			return c.RunActions(ctx, out)
		},
	}
}

// apiserverPort is the secure port of node's apiserver: the cluster file's
// apiserver.port, else the manifest's --secure-port, else 6443.
func (c *Context) apiserverPort(node string) int {
	// The manifest read in preflight is the truth; the cluster file's
	// apiserver.port (default 6443) is for before it was read.
	if a, ok := c.apiserverOf(node); ok && a.Port != 0 {
		return a.Port
	}
	if c.Cluster.Apiserver.Port != 0 {
		return c.Cluster.Apiserver.Port
	}
	return 6443
}

// apiserverHost is the address node's apiserver answers on.
func (c *Context) apiserverHost(node string) string {
	if a, ok := c.apiserverOf(node); ok && a.Host != "" {
		return a.Host
	}
	return "127.0.0.1"
}

func (c *Context) apiserverOf(node string) (Apiserver, bool) {
	for _, a := range c.Values.Apiservers {
		if a.Node == node {
			return a, true
		}
	}
	return Apiserver{}, false
}
