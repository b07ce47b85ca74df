package steps

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// Control-plane components whose caches predate the restore.
var flushedComponents = [...]string{"kube-scheduler", "kube-controller-manager"}

// FlushCachesStep bounces kube-scheduler, kube-controller-manager and every
// kubelet, which still hold pre-restore state in memory.
func FlushCachesStep() Step {
	return Step{
		ID:    FlushCaches,
		Title: "Restart kube-scheduler, kube-controller-manager and every kubelet",
		Why: "Controllers and kubelets still act on state cached before the restore; each must restart " +
			"and resync from the restored apiservers. The most often forgotten step.",
		Plan: func(c *Context) ([]Action, error) {
			var out []Action
			for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
				for _, comp := range flushedComponents {
					out = append(out, parkAction(c, n.Name, comp+".yaml"), unparkAction(c, n.Name, comp+".yaml"))
				}
			}
			for _, n := range c.Cluster.Nodes {
				out = append(out, restartKubelet(c, n.Name))
			}
			return out, nil
		},
		Facts: func(c *Context) []string {
			at := fmt.Sprintf("%d nodes", c.rolling())
			if c.rolling() == 1 {
				at = "1 node"
			}
			return []string{fmt.Sprintf("kubelets restart rolling, %s at a time; a node that cannot be reached is listed, "+
				"and you choose: re-verify (wait), retry, or continue without it (reported as not flushed)", at)}
		},
		Run:          flushCaches,
		Verify:       verifyFlushed,
		AllowPartial: true,
	}
}

func restartKubelet(c *Context, node string) Action {
	return Action{Node: node, What: "restart the kubelet so it drops the pods it cached before the restore", Cmd: sudo(c.Cluster, "systemctl", "restart", "kubelet")}
}

func kubeletIDAction(c *Context, node string) Action {
	return Action{Node: node, What: "read the kubelet's invocation",
		Cmd: nodes.Cmd{Args: []string{"systemctl", "show", "kubelet", "--property=InvocationID", "--value"}}}
}

// rolling bounds how many kubelets restart at once: a third of the nodes,
// at most ssh.concurrency, at least one.
func (c *Context) rolling() int {
	n := max(len(c.Cluster.Nodes)/3, 1)
	if lim := c.Cluster.SSH.Concurrency; lim > 0 {
		n = min(n, lim)
	}
	return n
}

func (c *Context) recordBefore(key, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Values.Before == nil {
		c.Values.Before = map[string]string{}
	}
	if _, ok := c.Values.Before[key]; !ok { // first observation wins: a resume must compare with pre-restart
		c.Values.Before[key] = v
	}
}

func flushCaches(ctx context.Context, c *Context) error {
	cps := names(c.Cluster.NodesWith(config.RoleControlPlane))
	err := c.ForEachNode(ctx, cps, func(ctx context.Context, node string) error {
		for _, comp := range flushedComponents {
			if err := c.bounce(ctx, node, comp); err != nil {
				return err
			}
		}
		return nil
	})
	if err := c.SaveValues(); err != nil {
		return err
	}
	kerr := c.forEachNode(ctx, c.rolling(), names(c.Cluster.Nodes), func(ctx context.Context, node string) error {
		res, err := c.Exec1(ctx, kubeletIDAction(c, node))
		if err != nil {
			return err
		}
		c.recordBefore(node+"/kubelet", strings.TrimSpace(res.Stdout))
		_, err = c.Exec1(ctx, restartKubelet(c, node))
		return err
	})
	if serr := c.SaveValues(); serr != nil {
		return serr
	}
	return errors.Join(err, kerr)
}

// bounce parks and unparks comp's manifest, so the kubelet stops the old
// process and starts a new one; the old pid is recorded for Verify.
func (c *Context) bounce(ctx context.Context, node, comp string) error {
	res, err := c.Exec1(ctx, Action{Node: node, What: "find " + comp,
		Cmd: sudo(c.Cluster, pgrepArgs(comp, true)...), Accept: func(r nodes.Result) error { return nil }})
	if err != nil {
		return err
	}
	c.recordBefore(node+"/"+comp, strings.TrimSpace(res.Stdout))
	if _, err := c.Exec1(ctx, parkAction(c, node, comp+".yaml")); err != nil {
		return err
	}
	if err := c.WaitFor(ctx, comp+" stopped on "+node, func(ctx context.Context) error {
		return c.processGone(ctx, node, comp)
	}); err != nil {
		return c.parkedPodGone(node, comp, err)
	}
	_, err = c.Exec1(ctx, unparkAction(c, node, comp+".yaml"))
	return err
}

// verifyFlushed: a NEW scheduler and controller-manager process on every
// control-plane node, a new kubelet invocation on every node. Nodes that
// fail are returned as a PartialError so the operator may continue.
func verifyFlushed(ctx context.Context, c *Context) error {
	err := c.ForEachNode(ctx, names(c.Cluster.Nodes), func(ctx context.Context, node string) error {
		n, _ := c.Cluster.Node(node)
		return c.WaitFor(ctx, "caches flushed on "+node, func(ctx context.Context) error {
			if n.Has(config.RoleControlPlane) {
				for _, comp := range flushedComponents {
					if err := c.newProcess(ctx, node, comp); err != nil {
						return err
					}
				}
			}
			res, err := c.Exec1(ctx, kubeletIDAction(c, node))
			if err != nil {
				return err
			}
			now, was := strings.TrimSpace(res.Stdout), c.Values.Before[node+"/kubelet"]
			ok := now != "" && was != "" && now != was
			c.CheckFact(node, "kubelet restarted after the restore", ok, now, restartFact(CompKubelet, ok, now))
			if !ok {
				return fmt.Errorf("kubelet invocation %q is the one from before the restart (%q)", now, was)
			}
			return nil
		})
	})
	if failed := FailedNodes(err); len(failed) > 0 {
		return &PartialError{Nodes: failed, Why: "caches not flushed: " + err.Error()}
	}
	return err
}

func (c *Context) newProcess(ctx context.Context, node, comp string) error {
	res, err := c.Exec1(ctx, Action{Node: node, What: "find " + comp,
		Cmd: sudo(c.Cluster, pgrepArgs(comp, true)...)})
	if err != nil {
		return err
	}
	pid, was := strings.TrimSpace(res.Stdout), c.Values.Before[node+"/"+comp]
	ok := pid != "" && pid != was
	c.CheckFact(node, "new "+comp+" process", ok, pid, restartFact(componentNamed(comp), ok, pid))
	if !ok {
		return fmt.Errorf("%s pid %s is the one from before (%s)", comp, pid, was)
	}
	return nil
}
