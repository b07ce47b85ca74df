package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps"
)

// toolCheck is one tool on one node, looked up as the step runs it (under
// sudo -n or as the login): preflight's own lookup (steps.NodeTools).
type toolCheck = steps.ToolLookup

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

// addTools looks up every tool each reachable node needs with preflight's
// own lookup (steps.CheckNodeTools: the table of what the steps run, run
// as the step runs it); a missing one fails the node's check.
func addTools(ctx context.Context, cl *config.Cluster, r *nodes.Runner, rows []nodeCheck) {
	nodes.Each(context.WithoutCancel(ctx), cl.SSH.Concurrency, nodeNames(cl), func(_ context.Context, i int, _ string) error {
		row := &rows[i]
		if row.SSH != "ok" || (cl.SSH.Sudo && row.Sudo != "ok") {
			return nil // already failed, and said why
		}
		n := cl.Nodes[i]
		got, err := steps.CheckNodeTools(ctx, cl, r, n.Name)
		row.Tools = append(row.Tools, got...)
		if err != nil {
			row.Problems = append(row.Problems, fmt.Sprintf("looking up the tools on %s: %v", n.Name, err))
			row.OK = false
		}
		for _, tc := range got {
			if !tc.Found {
				row.Problems = append(row.Problems, fmt.Sprintf("%s: %s not found %s; it %s: %s",
					n.Name, tc.Name, tc.How(), tc.Why, tc.Fix()))
				row.OK = false
			}
		}
		return nil
	})
}

// sudoAnswered is the probe's sudo finding read as preflight reads it: a
// sudo -n that ran the command but found no timeout to run it in answered
// (nil), and addTools' lookup then names the missing timeout in TOOLS.
// Any other failure is the probe's own.
func sudoAnswered(ctx context.Context, cl *config.Cluster, r *nodes.Runner, node string, probed error) error {
	if probed == nil || steps.CheckSudo(ctx, cl, r, node) != nil {
		return probed
	}
	return nil
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
		if !t.Found && !slices.Contains(missing, t.Name) { // once, when missing both as the login and under sudo
			missing = append(missing, t.Name)
		}
	}
	if len(missing) == 0 {
		return "ok"
	}
	return "MISSING " + strings.Join(missing, ",")
}
