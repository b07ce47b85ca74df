package steps

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// RoleSnapshotHolder stands, in NodeTool.Roles, for the node that holds
// the snapshot (snapshot.on), whatever its roles.
const RoleSnapshotHolder = "snapshot.on"

// NodeTool is a program the steps run on a node: found under sudo -n (on
// sudo's secure_path) or as the login (on its PATH), as the step runs it;
// on the nodes of Roles (nil: every node).
type NodeTool struct {
	Name, Package string
	Sudo          bool
	Roles         []string
	Why           string
}

var (
	cpEtcd     = []string{config.RoleControlPlane, config.RoleEtcd}
	etcdOnly   = []string{config.RoleEtcd}
	etcdHolder = []string{config.RoleEtcd, RoleSnapshotHolder}
	cpEtcdHold = []string{config.RoleControlPlane, config.RoleEtcd, RoleSnapshotHolder}
)

// NodeTools are every program the step code runs on nodes, outside the
// etcd tools (decideTools chooses and proves etcdutl and etcdctl per
// member) and the etcd binary a systemd unit starts. A node that lacks one
// would fail the step that runs it mid-procedure, perhaps with its
// apiservers stopped: preflight looks each one up first (checkNodeTools),
// and so does `etcd-dr check`. TestNodeToolsListEveryProgramTheStepsRun
// walks the step code and fails on a program missing here.
var NodeTools = []NodeTool{
	{"timeout", "coreutils", true, nil, "bounds every command run under sudo (the runner wraps each in timeout)"},
	{"timeout", "coreutils", false, nil, "bounds every command run as the login (the runner wraps each in timeout)"},
	{"true", "coreutils", true, nil, "proves passwordless sudo (preflight)"},
	{"systemctl", "systemd", true, nil, "restarts the kubelet (step 5); stops and starts a systemd etcd (steps 1, 4)"},
	{"systemctl", "systemd", false, nil, "reads the kubelet's and a systemd etcd's unit state (steps 1, 4, 5)"},
	{"sh", "dash", true, nil, "runs the lock, park, copy, restore and write scripts (preflight, steps 1-4) and this lookup"},
	{"sh", "dash", false, nil, "runs this lookup as the login (preflight)"},
	{"cat", "coreutils", true, cpEtcdHold, "reads the manifests; copies the snapshot (preflight, steps 2-3)"},
	{"rm", "coreutils", true, cpEtcdHold, "removes the lock and this run's partial files (preflight, steps 1-2, finish)"},
	{"mv", "coreutils", true, cpEtcdHold, "parks and unparks manifests; finishes atomic writes (steps 1, 3, 4)"},
	{"mkdir", "coreutils", true, cpEtcd, "makes the park dir and the tools dir (preflight, step 1)"},
	{"cmp", "diffutils", true, cpEtcd, "tells an already parked manifest from another one (steps 1, 4)"},
	{"cp", "coreutils", true, cpEtcd, "keeps a manifest's original before it is rewritten (step 3)"},
	{"chmod", "coreutils", true, cpEtcd, "gives a rewritten manifest its original's mode (step 3); brought tools 0700 (preflight)"},
	{"sync", "coreutils", true, cpEtcd, "makes a rewritten manifest durable before the rename (step 3)"},
	{"dirname", "coreutils", true, cpEtcd, "finds a manifest's and a data dir's directory (steps 2, 3)"},
	{"grep", "grep", true, cpEtcd, "reads who holds the lock (preflight, every step's fence)"},
	{"tee", "coreutils", true, cpEtcd, "writes the lock (preflight)"},
	{"ln", "coreutils", true, cpEtcd, "takes the lock atomically (preflight)"},
	{"head", "coreutils", true, cpEtcd, "reads the manifests dir for stray copies (preflight)"},
	{"pgrep", "procps", true, cpEtcd, "proves an apiserver, etcd, scheduler or controller-manager stopped or restarted (steps 1, 5)"},
	{"ss", "iproute2", false, cpEtcd, "proves nothing listens on the apiserver or etcd ports (step 1)"},
	{"test", "coreutils", false, cpEtcd, "proves the lock is gone (verify)"},
	{"curl", "curl", false, []string{config.RoleControlPlane}, "asks each apiserver's /readyz from its node (step 4)"},
	{"sha256sum", "coreutils", true, etcdHolder, "verifies the snapshot on a member, again right before its restore (preflight, step 2)"},
	{"stat", "coreutils", true, etcdHolder, "sizes the snapshot or a member's db; reads a data dir's owner (preflight, step 2)"},
	{"base64", "coreutils", true, etcdHolder, "reads the snapshot or a member's db to the bastion (preflight)"},
	{"df", "coreutils", false, etcdOnly, "measures free disk for the restore (preflight)"},
	{"df", "coreutils", true, etcdOnly, "measures free disk again before a restore is retried (step 2)"},
	{"awk", "gawk or mawk", true, etcdOnly, "reads df's output before a retried restore (step 2)"},
	{"cut", "coreutils", true, etcdOnly, "reads a brought tool's sha256 (preflight)"},
	{"chown", "coreutils", true, etcdOnly, "gives a restored data dir its unit's user (step 2, systemd etcd)"},
	{"test", "coreutils", true, etcdOnly, "finds the old data dir before a rollback (rollback)"},
}

// rhelPackages are the RHEL (and Fedora, Rocky, Alma) names of the
// packages NodeTools name as Debian and Ubuntu do, where they differ.
var rhelPackages = map[string]string{
	"procps":       "procps-ng",
	"iproute2":     "iproute",
	"gawk or mawk": "gawk",
	"dash":         "bash", // RHEL's /bin/sh
}

// Needs says whether the node n runs t; holder is the snapshot.on node.
func (t NodeTool) Needs(n config.Node, holder string) bool {
	if t.Roles == nil {
		return true
	}
	return slices.ContainsFunc(t.Roles, n.Has) || (holder != "" && n.Name == holder && slices.Contains(t.Roles, RoleSnapshotHolder))
}

// ToolLookup is one tool on one node, looked up as its step runs it: under
// sudo -n (sudo's secure_path) or as the login (its PATH).
type ToolLookup struct {
	Name    string `json:"name"`
	Package string `json:"package"`
	Sudo    bool   `json:"sudo"`
	// PackageRHEL is Package's name on RHEL, when it differs.
	PackageRHEL string `json:"packageRHEL,omitempty"`
	Path        string `json:"path,omitempty"` // "" when not found
	Found       bool   `json:"found"`
	Why         string `json:"why,omitempty"`
}

// How says where the tool was looked for, as the step will run it.
func (l ToolLookup) How() string {
	if l.Sudo {
		return "under sudo -n (sudo's secure_path)"
	}
	return "in the login's PATH"
}

// Fix says what makes a missing tool found, for Debian and RHEL alike:
// install its package, or, when it is installed outside where the step
// looks, put its directory there (sudo's secure_path, the login's PATH).
func (l ToolLookup) Fix() string {
	pkg := l.Package
	if l.PackageRHEL != "" {
		pkg += " (Debian, Ubuntu) or " + l.PackageRHEL + " (RHEL)"
	}
	if l.Sudo {
		return "install " + pkg + " on the node; if it is installed, add its directory to sudo's secure_path (visudo: Defaults secure_path)"
	}
	return "install " + pkg + " on the node; if it is installed, add its directory to the PATH the login's SSH commands get (/etc/environment, or sshd's SetEnv)"
}

// MissingTools is preflight's finding on a node: Tools (not Found) are
// programs a later step runs there, absent where that step looks for them.
type MissingTools struct {
	Node  string
	Tools []ToolLookup
}

func (e *MissingTools) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lacks programs the later steps run there:", e.Node)
	for i, t := range e.Tools {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s not found %s (it %s): %s", t.Name, t.How(), t.Why, t.Fix())
	}
	return b.String()
}

// CheckToolsFound is the check preflight reports per node (CheckEvent.Check,
// journaled): OK when every program the steps run there is found.
const CheckToolsFound = "every program the steps run is found"

// nodeToolLookupScript prints "NAME PATH" per tool, or "NAME -": the first
// executable file NAME on PATH, as execvp finds it. The steps run every
// program through the runner's `exec timeout …`, which needs such a file
// even for a name the shell has built in (true, test), so not command -v,
// which answers "true" for the builtin. It never exits 127: that is the
// runner's timeout missing.
const nodeToolLookupScript = `for t in "$@"; do p=-; IFS=:
for d in $PATH; do if [ -f "$d/$t" ] && [ -x "$d/$t" ]; then p="$d/$t"; break; fi; done
unset IFS; echo "$t $p"; done`

// toolsNeeded are the tools node runs, split by how they run.
func (c *Context) toolsNeeded(node string) (sudo, login []NodeTool) {
	i := slices.IndexFunc(c.Cluster.Nodes, func(n config.Node) bool { return n.Name == node })
	if i < 0 {
		return nil, nil
	}
	for _, t := range NodeTools {
		if !t.Needs(c.Cluster.Nodes[i], c.snapshotHolder()) {
			continue
		}
		if t.Sudo && c.Cluster.SSH.Sudo {
			sudo = append(sudo, t)
		} else if !slices.ContainsFunc(login, func(l NodeTool) bool { return l.Name == t.Name }) {
			login = append(login, t) // ssh.sudo false: every command runs as the login (root)
		}
	}
	return sudo, login
}

// toolLookup is one lookup command and the tools it looks up.
type toolLookup struct {
	act   Action
	tools []NodeTool
}

// toolLookups look node's tools up exactly as the steps run them: through
// the same runner (its timeout wrapper), under the same sudo (its
// secure_path and env_reset) or as the login, on its PATH.
func (c *Context) toolLookups(node string) []toolLookup {
	sudo, login := c.toolsNeeded(node)
	var out []toolLookup
	for _, g := range []struct {
		tools []NodeTool
		sudo  bool
	}{{sudo, true}, {login, false}} {
		if len(g.tools) == 0 {
			continue
		}
		var args []string
		for _, t := range g.tools {
			if !slices.Contains(args, t.Name) {
				args = append(args, t.Name)
			}
		}
		cmd := shCmd(c.Cluster, nodeToolLookupScript, args...)
		cmd.Sudo = g.sudo
		what := "look up the programs later steps run here as the login"
		if g.sudo {
			what = "look up the programs later steps run here under sudo"
		}
		out = append(out, toolLookup{tools: g.tools, act: Action{Node: node, What: what, ReadOnly: true, Cmd: cmd,
			Accept: func(nodes.Result) error { return nil }}}) // a missing tool is a finding, read below
	}
	return out
}

// toolLookupActions are the lookups' commands, for the plan.
func (c *Context) toolLookupActions(node string) []Action {
	var out []Action
	for _, l := range c.toolLookups(node) {
		out = append(out, l.act)
	}
	return out
}

// LookUpNodeTools looks up every tool node runs and returns each, found or
// not; an error only when the lookup itself failed.
func (c *Context) LookUpNodeTools(ctx context.Context, node string) ([]ToolLookup, error) {
	var out []ToolLookup
	for _, g := range c.toolLookups(node) {
		res, err := c.Exec1(ctx, g.act)
		if err != nil {
			return out, err
		}
		found := map[string]string{}
		timeoutMissing := timeoutNotFound(res)
		switch {
		case res.ExitCode == 0:
			for _, l := range strings.Split(res.Stdout, "\n") {
				if name, p, ok := strings.Cut(l, " "); ok && p != "-" {
					found[name] = p
				}
			}
		case !timeoutMissing:
			return out, &NodeError{Node: node, Err: fmt.Errorf("%s: exit %d%s", g.act.What, res.ExitCode, stderrTail(res))}
		}
		for _, t := range g.tools {
			if timeoutMissing && t.Name != "timeout" {
				continue // the runner's `exec timeout …` found none: the script never ran
			}
			l := ToolLookup{Name: t.Name, Package: t.Package, PackageRHEL: rhelPackages[t.Package], Sudo: g.act.Cmd.Sudo, Path: found[t.Name], Why: t.Why}
			l.Found = l.Path != ""
			out = append(out, l)
		}
	}
	return out, nil
}

// checkNodeTools is preflight's: on every node, every tool a later step
// runs there is found where that step will look for it. A node lacking
// one stops preflight with a *MissingTools, before anything changed.
func (c *Context) checkNodeTools(ctx context.Context) error {
	return c.ForEachNode(ctx, names(c.Cluster.Nodes), func(ctx context.Context, node string) error {
		got, err := c.LookUpNodeTools(ctx, node)
		if err != nil {
			return err
		}
		var missing []ToolLookup
		var names []string
		for _, l := range got {
			if !l.Found {
				missing = append(missing, l)
				names = append(names, l.Name)
			}
		}
		detail := fmt.Sprintf("%d programs found", len(got))
		if len(missing) > 0 {
			detail = "missing: " + strings.Join(names, ", ")
		}
		c.Check(node, CheckToolsFound, len(missing) == 0, detail)
		if len(missing) > 0 {
			return &NodeError{Node: node, Err: &MissingTools{Node: node, Tools: missing}}
		}
		return nil
	})
}

// CheckNodeTools is `etcd-dr check`'s: preflight's lookup on node, read-only.
func CheckNodeTools(ctx context.Context, cl *config.Cluster, exec Executor, node string) ([]ToolLookup, error) {
	c := &Context{Cluster: cl, Exec: exec}
	return c.LookUpNodeTools(ctx, node)
}

// timeoutNotFound: the runner's wrapper (`exec timeout …`, nodes/quote.go)
// found no timeout, so the command never ran (the shell's exit 127, read
// as nodes/run.go reads it).
func timeoutNotFound(r nodes.Result) bool {
	return r.ExitCode == 127 && strings.Contains(r.Stderr, "exec: timeout: not found")
}

// sudoCheckLeavingTimeout is preflight's sudo check, except that a node
// whose sudo runs the command but finds no timeout there passes it (sudo
// -n answered without a password): checkNodeTools, right after, names the
// missing timeout as the finding it is.
func sudoCheckLeavingTimeout(node string) Action {
	a := sudoCheck(node)
	a.Accept = func(r nodes.Result) error {
		if timeoutNotFound(r) {
			return nil
		}
		if r.Err != nil {
			return r.Err
		}
		if r.ExitCode != 0 {
			return fmt.Errorf("exit %d%s", r.ExitCode, stderrTail(r))
		}
		return nil
	}
	return a
}

// CheckSudo is preflight's sudo check for `etcd-dr check`, read-only: nil
// when sudo -n answered, even when it found no timeout to run the command
// in (the tools lookup names that missing timeout, as preflight does).
func CheckSudo(ctx context.Context, cl *config.Cluster, exec Executor, node string) error {
	c := &Context{Cluster: cl, Exec: exec}
	_, err := c.Exec1(ctx, sudoCheckLeavingTimeout(node))
	return err
}
