package steps

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// RepointApiserversStep rewrites each parked apiserver's --etcd-servers
// when the members' client URLs changed; with a load balancer in front of
// etcd it is a manual gate listing the new backends.
func RepointApiserversStep() Step {
	return Step{
		ID:    RepointApiservers,
		Title: "Point the apiservers at the restored members",
		Why:   "If member URLs changed, apiservers started with the old --etcd-servers would find no etcd, or a different one.",
		Plan: func(c *Context) ([]Action, error) {
			var out []Action
			for _, r := range c.repoints() {
				w := writeAction(c, r.a.Node, c.parkedApiserver(), nil)
				w.What = "set --etcd-servers=" + strings.Join(r.want, ",") + " in the parked " + apiserverManifest
				w.Changes = c.etcdServersChange(r)
				out = append(out, w)
			}
			return out, nil
		},
		Facts: repointFacts,
		Run: func(ctx context.Context, c *Context) error {
			return c.ForEachNode(ctx, repointNodes(c.repoints()), func(ctx context.Context, node string) error {
				return c.setEtcdServers(ctx, node, c.desiredOn(node))
			})
		},
		Verify: func(ctx context.Context, c *Context) error {
			if c.Cluster.Apiserver.LoadBalancer {
				return verifyLoadBalancer(ctx, c)
			}
			return c.ForEachNode(ctx, apiserverNodes(c), func(ctx context.Context, node string) error {
				return c.checkEtcdServers(ctx, node, c.desiredOn(node))
			})
		},
	}
}

type repoint struct {
	a    Apiserver
	want []string
}

// repoints lists the apiservers whose --etcd-servers must change.
func (c *Context) repoints() []repoint {
	if c.Cluster.Apiserver.LoadBalancer {
		return nil
	}
	var out []repoint
	for _, a := range c.Values.Apiservers {
		want := DesiredEtcdServers(c.Cluster, a, c.Values.Members)
		if strings.Join(want, ",") != strings.Join(a.EtcdServers, ",") {
			out = append(out, repoint{a: a, want: want})
		}
	}
	return out
}

func repointNodes(rs []repoint) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.a.Node)
	}
	return out
}

func apiserverNodes(c *Context) []string {
	var out []string
	for _, a := range c.Values.Apiservers {
		out = append(out, a.Node)
	}
	return out
}

func repointFacts(c *Context) []string {
	if len(c.Values.Apiservers) == 0 {
		return []string{"--etcd-servers of every apiserver is compared with the members' client URLs after preflight reads the manifests"}
	}
	if c.Cluster.Apiserver.LoadBalancer {
		return []string{"MANUAL: --etcd-servers points at a load balancer (" + strings.Join(lbURLs(c.Values.Apiservers), ", ") +
			"). Set its backends to: " + strings.Join(clientURLs(c.Values.Members), ", "),
			"then proceed: etcd-dr checks the load balancer reaches the restored cluster (same cluster ID)"}
	}
	rs := c.repoints()
	if len(rs) == 0 {
		return []string{"every apiserver's --etcd-servers already names the restored members: nothing to change"}
	}
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s: --etcd-servers\n  - %s\n  + %s", r.a.Node,
			strings.Join(r.a.EtcdServers, ","), strings.Join(r.want, ",")))
	}
	return out
}

func (c *Context) parkedApiserver() string {
	return path.Join(c.Cluster.Etcd.ParkDir, apiserverManifest)
}

func (c *Context) apiserverOn(node string) Apiserver {
	for _, a := range c.Values.Apiservers {
		if a.Node == node {
			return a
		}
	}
	return Apiserver{Node: node}
}

func (c *Context) desiredOn(node string) []string {
	return DesiredEtcdServers(c.Cluster, c.apiserverOn(node), c.Values.Members)
}

// setEtcdServers rewrites --etcd-servers in node's parked apiserver manifest.
func (c *Context) setEtcdServers(ctx context.Context, node string, want []string) error {
	res, err := c.Exec1(ctx, catAction(c, node, c.parkedApiserver()))
	if err != nil {
		return err
	}
	edited, err := manifest.Edit([]byte(res.Stdout), manifest.SetFlag("etcd-servers", strings.Join(want, ",")))
	if err != nil {
		return fmt.Errorf("%s: %w", c.parkedApiserver(), err)
	}
	w := writeAction(c, node, c.parkedApiserver(), edited)
	_, err = c.Exec1(ctx, w)
	return err
}

// checkEtcdServers reads the parked manifest back and compares the flag.
func (c *Context) checkEtcdServers(ctx context.Context, node string, wantList []string) error {
	want := strings.Join(wantList, ",")
	res, err := c.Exec1(ctx, catAction(c, node, c.parkedApiserver()))
	if err != nil {
		return err
	}
	p, err := manifest.Parse([]byte(res.Stdout))
	if err != nil {
		return fmt.Errorf("%s: %w", c.parkedApiserver(), err)
	}
	got, _ := p.Flag("etcd-servers")
	c.Check(node, "--etcd-servers names the restored members", got == want, got)
	if got != want {
		return fmt.Errorf("%s says --etcd-servers=%s, want %s", c.parkedApiserver(), got, want)
	}
	return nil
}

// verifyLoadBalancer asks etcd through each load balancer URL the
// apiservers use and compares the cluster ID with the one a restored member
// reports directly. A load balancer spreads connections over its pool, so
// one answer proves one backend: each URL is asked twice per member (every
// etcdctl call is a new connection), and every answer must be the restored
// cluster's.
func verifyLoadBalancer(ctx context.Context, c *Context) error {
	ms := c.members()
	if len(ms) == 0 || len(c.Values.Apiservers) == 0 {
		return fmt.Errorf("no members or apiservers known: run preflight")
	}
	m := ms[0]
	direct, err := c.memberStatus(ctx, m)
	if err != nil {
		return err
	}
	want := direct.Status.Header.ClusterID
	probes := 2 * len(ms)
	for _, url := range lbURLs(c.Values.Apiservers) {
		for i := 1; i <= probes; i++ {
			via, err := c.statusAt(ctx, m, url)
			ok := err == nil && via.Status.Header.ClusterID == want
			c.Check(m.Node, fmt.Sprintf("load balancer %s reaches the restored cluster (%d/%d)", url, i, probes), ok, "")
			if err != nil {
				return fmt.Errorf("through the load balancer %s (probe %d of %d): %w; set its backends to %s, then re-verify",
					url, i, probes, err, strings.Join(clientURLs(ms), ", "))
			}
			if !ok {
				return fmt.Errorf("the load balancer %s reaches cluster %x (probe %d of %d), the restored members are cluster %x: "+
					"set its backends to %s, then re-verify", url, via.Status.Header.ClusterID, i, probes, want, strings.Join(clientURLs(ms), ", "))
			}
		}
	}
	return nil
}

// lbURLs are the --etcd-servers URLs of every apiserver, once each.
func lbURLs(as []Apiserver) []string {
	var out []string
	for _, a := range as {
		for _, u := range a.EtcdServers {
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

func clientURLs(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ClientURLs...)
	}
	return out
}
