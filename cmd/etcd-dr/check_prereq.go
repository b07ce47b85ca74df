package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// nodeTool is a program the procedure runs on a node, how it runs it
// (under sudo or as the login), and on which roles (none: every node).
type nodeTool struct {
	Name, Package string
	Sudo          bool
	Roles         []string
	Why           string
}

// nodeTools are the programs steps run on nodes outside the etcd tools
// (which check reports on their own): a node that lacks one fails the step
// that needs it mid-procedure, so check names it before anything runs.
var nodeTools = []nodeTool{
	{"timeout", "coreutils", false, nil, "bounds every command on the node"},
	{"systemctl", "systemd", true, nil, "restarts the kubelet (step 5)"},
	{"pgrep", "procps", true, []string{config.RoleControlPlane, config.RoleEtcd}, "proves an apiserver or etcd stopped"},
	{"ss", "iproute2", false, []string{config.RoleControlPlane, config.RoleEtcd}, "proves nothing listens on the apiserver or etcd ports"},
	{"curl", "curl", false, []string{config.RoleControlPlane}, "asks each apiserver's /readyz from the node (step 4)"},
	{"sha256sum", "coreutils", true, []string{config.RoleEtcd}, "verifies the snapshot copied to a member"},
	{"df", "coreutils", false, []string{config.RoleEtcd}, "measures free disk for the restore"},
}

// toolCheck is one tool on one node, looked up as the step runs it: under
// sudo -n (sudo's secure_path) or in the login's PATH.
type toolCheck struct {
	Name    string `json:"name"`
	Package string `json:"package"`
	Sudo    bool   `json:"sudo"`
	Path    string `json:"path,omitempty"` // "" when not found
	Found   bool   `json:"found"`
}

// sshTarget is how a node is reached once OpenSSH's configuration and the
// cluster file are applied: an alias shows the address it resolved to.
type sshTarget struct {
	User  string   `json:"user"`
	Host  string   `json:"host"`
	Port  int      `json:"port"`
	Jumps []string `json:"jumps,omitempty"` // user@host:port per hop, outermost first
}

func targetOf(r *nodes.Runner, node string) *sshTarget {
	t, ok := r.Target(node)
	if !ok {
		return nil
	}
	st := &sshTarget{User: t.User, Host: t.Host, Port: t.Port}
	for _, j := range t.Jumps {
		st.Jumps = append(st.Jumps, j.User+"@"+j.Addr())
	}
	return st
}

func (t *sshTarget) String() string {
	if t == nil {
		return "-"
	}
	s := t.User + "@" + t.Host + ":" + strconv.Itoa(t.Port)
	if len(t.Jumps) > 0 {
		s += " via " + strings.Join(t.Jumps, ",")
	}
	return s
}

// lookupScript prints "NAME PATH" per tool, or "NAME -" when command -v
// finds none.
const lookupScript = `for t in "$@"; do p=$(command -v "$t") && echo "$t $p" || echo "$t -"; done`

// addTools looks up every tool each reachable node needs, the way its step
// runs it; a missing one fails the node's check.
func addTools(ctx context.Context, cl *config.Cluster, r *nodes.Runner, rows []nodeCheck) {
	nodes.Each(context.WithoutCancel(ctx), cl.SSH.Concurrency, nodeNames(cl), func(_ context.Context, i int, _ string) error {
		row := &rows[i]
		if row.SSH != "ok" || (cl.SSH.Sudo && row.Sudo != "ok") {
			return nil // already failed, and said why
		}
		n := cl.Nodes[i]
		for _, sudo := range []bool{false, true} {
			var want []nodeTool
			for _, t := range nodeTools {
				if t.Sudo == sudo && (t.Roles == nil || slices.ContainsFunc(t.Roles, n.Has)) {
					want = append(want, t)
				}
			}
			if len(want) == 0 {
				continue
			}
			args := []string{"sh", "-c", lookupScript, "sh"}
			for _, t := range want {
				args = append(args, t.Name)
			}
			res, err := r.Run(ctx, n.Name, nodes.Cmd{Args: args, Sudo: sudo && cl.SSH.Sudo}, nil)
			if err != nil {
				row.Problems = append(row.Problems, fmt.Sprintf("looking up the tools on %s: %v", n.Name, err))
				row.OK = false
				continue
			}
			found := map[string]string{}
			for _, l := range strings.Split(res.Stdout, "\n") {
				if name, p, ok := strings.Cut(l, " "); ok && p != "-" {
					found[name] = p
				}
			}
			for _, t := range want {
				tc := toolCheck{Name: t.Name, Package: t.Package, Sudo: sudo && cl.SSH.Sudo, Path: found[t.Name], Found: found[t.Name] != ""}
				row.Tools = append(row.Tools, tc)
				if !tc.Found {
					how := "in the login's PATH"
					if tc.Sudo {
						how = "under sudo -n (sudo's secure_path)"
					}
					row.Problems = append(row.Problems, fmt.Sprintf("%s: %s not found %s; it %s: install %s on the node",
						n.Name, t.Name, how, t.Why, t.Package))
					row.OK = false
				}
			}
		}
		return nil
	})
}

func nodeNames(cl *config.Cluster) []string {
	names := make([]string, len(cl.Nodes))
	for i, n := range cl.Nodes {
		names[i] = n.Name
	}
	return names
}

// toolsCell is the TOOLS column: ok, the missing ones, or - (not looked up).
func toolsCell(ts []toolCheck) string {
	if len(ts) == 0 {
		return "-"
	}
	var missing []string
	for _, t := range ts {
		if !t.Found {
			missing = append(missing, t.Name)
		}
	}
	if len(missing) == 0 {
		return "ok"
	}
	return "MISSING " + strings.Join(missing, ",")
}
