package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// nodeName is an RFC 1123 subdomain, as Kubernetes node names are. Node names
// end up in file names (journal, transcript), messages and command
// arguments; the pattern keeps '/', '..', spaces and shell characters out.
var nodeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// hostLabel is one label of a host name (case-insensitive, unlike node names).
var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$`)

// roleSynonyms maps words other tools use to the role meant, for "did you
// mean" when edit distance alone would not find it.
func roleSynonyms(r string) string {
	switch strings.ToLower(r) {
	case "master", "controlplane", "control_plane", "cp", "controller":
		return RoleControlPlane
	case "node", "minion", "compute":
		return RoleWorker
	}
	return ""
}

// seen remembers the first line a name or address was used on.
type seen map[string]int

func (v *validator) nodes() {
	if v.d.bad["nodes"] {
		return
	}
	if len(v.c.Nodes) == 0 {
		v.r.errorf(v.d.where("nodes"), "nodes: none listed; list every control-plane, etcd and worker node")
		return
	}
	names, addrs := seen{}, seen{}
	for i := range v.c.Nodes {
		if !v.d.bad[fmt.Sprintf("nodes[%d]", i)] {
			v.node(i, names, addrs)
		}
	}
	if !v.nodesDoubtful() {
		v.roleCounts()
	}
}

// nodesDoubtful reports whether some node entry could not be read. Checks
// across nodes (role counts, the snapshot's node) would then report the
// same mistake again as something else; the node's own error is enough.
func (v *validator) nodesDoubtful() bool {
	for k := range v.d.bad {
		if strings.HasPrefix(k, "nodes[") {
			return true
		}
	}
	return false
}

func (v *validator) node(i int, names, addrs seen) {
	n, key := &v.c.Nodes[i], fmt.Sprintf("nodes[%d]", i)
	at := v.d.where(key)
	label := fmt.Sprintf("node %d", i+1)
	switch {
	case v.d.bad[key+".name"]:
	case n.Name == "":
		v.r.errorf(at, "%s: name is missing; give each node the name Kubernetes knows it by, like cp-1", label)
	default:
		label = fmt.Sprintf("node %q", n.Name)
		v.nodeName(key+".name", n.Name)
		if first, dup := names[n.Name]; dup {
			v.r.errorf(v.d.where(key+".name"), "node name %q is used twice (lines %d and %d); names must be unique", n.Name, first, n.Line)
		} else {
			names[n.Name] = n.Line
		}
	}
	v.nodeAddress(key, label, n, addrs)
	v.port(key+".port", n.Port)
	if v.d.ok(key + ".user") {
		v.login(key+".user", n.User)
	}
	v.nodeRoles(key, label, n)
}

func (v *validator) nodeName(key, name string) {
	if len(name) <= 253 && nodeName.MatchString(name) {
		return
	}
	hint := "use lowercase letters, digits, '-' and '.', like cp-1"
	if low := strings.ToLower(name); low != name && nodeName.MatchString(low) {
		hint = fmt.Sprintf("node names are lowercase: %q", low)
	}
	v.r.errorf(v.d.where(key), "node name %q is not a DNS name (it is used in file names and commands); %s", name, hint)
}

func (v *validator) nodeAddress(key, label string, n *Node, addrs seen) {
	if v.d.bad[key+".address"] {
		return
	}
	at := v.d.where(key + ".address")
	if why := badAddress(n.Address); why != "" {
		v.r.errorf(at, "%s: address %q: %s", label, n.Address, why)
		return
	}
	port := v.c.SSHPort(*n)
	// Two nodes may share an address behind NAT with different SSH ports.
	id := net.JoinHostPort(canonicalHost(n.Address), strconv.Itoa(port))
	if first, dup := addrs[id]; dup {
		v.r.errorf(at, "%s: address %s (SSH port %d) is also used on line %d; each node needs its own", label, n.Address, port, first)
		return
	}
	addrs[id] = n.Line
}

// badAddress says why host is not an IP address or host name, or "".
func badAddress(host string) string {
	switch {
	case host == "":
		return "missing; give the IP address or host name the bastion reaches it at"
	case net.ParseIP(host) != nil:
		return ""
	case strings.Contains(host, "://"):
		return "write the host alone, without a scheme"
	case strings.HasPrefix(host, "[") && net.ParseIP(strings.Trim(host, "[]")) != nil:
		return "write IPv6 addresses without brackets"
	case strings.Contains(host, ":"):
		return "write the host alone; an SSH port goes in port:"
	case len(host) > 253:
		return "longer than a host name can be"
	}
	for _, l := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if !hostLabel.MatchString(l) || len(l) > 63 {
			return "not an IP address or host name"
		}
	}
	return ""
}

// canonicalHost makes equal addresses compare equal: "::1" and "0:0::1",
// "CP-1.example" and "cp-1.example.".
func canonicalHost(h string) string {
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func (v *validator) nodeRoles(key, label string, n *Node) {
	if v.d.bad[key+".roles"] {
		return
	}
	known := []string{RoleControlPlane, RoleEtcd, RoleWorker}
	if len(n.Roles) == 0 {
		v.r.errorf(v.d.where(key+".roles"), "%s: roles are missing; give one or more of %s", label, strings.Join(known, ", "))
		return
	}
	had := map[string]bool{}
	for j, r := range n.Roles {
		rk := fmt.Sprintf("%s.roles[%d]", key, j)
		switch {
		case v.d.bad[rk]:
		case r != RoleControlPlane && r != RoleEtcd && r != RoleWorker:
			hint := didYouMean(r, known)
			if syn := roleSynonyms(r); syn != "" {
				hint = fmt.Sprintf(" (did you mean %q?)", syn)
			}
			v.r.errorf(v.d.where(rk), "%s: unknown role %q%s; roles are %s", label, r, hint, strings.Join(known, ", "))
		case had[r]:
			v.r.warnf(v.d.where(rk), "%s: role %s is listed twice", label, r)
		}
		had[r] = true
	}
}

// roleCounts checks the cluster as a whole: the procedure needs apiservers to
// stop and members to restore.
func (v *validator) roleCounts() {
	at := v.d.where("nodes")
	if len(v.c.NodesWith(RoleControlPlane)) == 0 {
		v.r.errorf(at, "nodes: no node has role %s; every kube-apiserver must be stopped before etcd is restored, so list the nodes that run one", RoleControlPlane)
	}
	members := len(v.c.NodesWith(RoleEtcd))
	switch {
	case members == 0:
		v.r.errorf(at, "nodes: no node has role %s; list the etcd members (on kubeadm clusters, the control-plane nodes)", RoleEtcd)
	case members%2 == 0:
		v.r.warnf(at, "nodes: %d etcd members tolerate no more failures than %d; check that no member is missing from the list", members, members-1)
	}
}
