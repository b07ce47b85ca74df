package steps

import "github.com/etcd-dr/etcd-dr/config"

// Helpers shared by several steps, kept out of the step files that
// happened to hold them first.

// members is the inventory from preflight, or one placeholder per etcd
// node so that `plan` can show the commands before preflight ran.
func (c *Context) members() []Member {
	if len(c.Values.Members) > 0 {
		return c.Values.Members
	}
	var out []Member
	for _, n := range c.Cluster.NodesWith(config.RoleEtcd) {
		out = append(out, Member{Node: n.Name, Name: "<member name: read from " + n.Name + " in preflight>",
			PeerURLs: []string{"<peer URL of " + n.Name + ">"}, DataDir: "<data dir of " + n.Name + ">",
			Etcdutl: PhEtcdutl, Etcdctl: PhEtcdctl})
	}
	return out
}

// names lists the nodes' names, in order.
func names(ns []config.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// first is s[0], or "" for an empty s.
func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// clip shortens what a node printed to quote it in an error.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// memberNodes lists the members' nodes, in order.
func memberNodes(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Node
	}
	return out
}

// memberOn is the member on node (a bare one naming only the node if
// none is).
func memberOn(ms []Member, node string) Member {
	for _, m := range ms {
		if m.Node == node {
			return m
		}
	}
	return Member{Node: node}
}

// systemd: etcd runs as a systemd unit, not as a static pod.
func (c *Context) systemd() bool { return c.Cluster.Etcd.Mode == config.EtcdModeSystemd }

// unit is the etcd systemd unit's name.
func (c *Context) unit() string {
	if c.Cluster.Etcd.SystemdUnit != "" {
		return c.Cluster.Etcd.SystemdUnit
	}
	return "etcd"
}
