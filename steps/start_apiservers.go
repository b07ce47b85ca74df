package steps

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// StartApiserversStep unparks the apiservers once etcd is healthy.
func StartApiserversStep() Step {
	unparkAll := func(c *Context) ([]Action, error) {
		var out []Action
		for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
			out = append(out, unparkAction(c, n.Name, apiserverManifest))
		}
		return out, nil
	}
	return Step{
		ID:    StartApiservers,
		Title: "Start every kube-apiserver",
		Why:   "The apiservers come back on the restored etcd and rebuild their caches from it; each must answer /readyz.",
		Plan:  unparkAll,
		Verify: func(ctx context.Context, c *Context) error {
			return c.ForEachNode(ctx, names(c.Cluster.NodesWith(config.RoleControlPlane)), func(ctx context.Context, node string) error {
				return c.WaitFor(ctx, "kube-apiserver /readyz on "+node, func(ctx context.Context) error {
					return c.readyz(ctx, node)
				})
			})
		},
	}
}

// readyz asks the apiserver on node, from the node itself, whether it is
// ready (kubeadm lets anonymous clients read /readyz).
func (c *Context) readyz(ctx context.Context, node string) error {
	url := "https://" + net.JoinHostPort(c.apiserverHost(node), strconv.Itoa(c.apiserverPort(node))) + "/readyz"
	res, err := c.Exec1(ctx, Action{Node: node, What: "GET " + url,
		Cmd: nodes.Cmd{Args: []string{"curl", "-sk", "--max-time", "5", url}}})
	body := strings.TrimSpace(res.Stdout)
	ok := err == nil && body == "ok"
	c.CheckFact(node, "kube-apiserver /readyz", ok, body, factIf(CompAPIServer, ok, CompUp, CompDown))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("/readyz said %q", body)
	}
	return nil
}
