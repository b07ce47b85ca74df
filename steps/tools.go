package steps

import (
	"context"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/etcdtools"
)

// nodeToolsRoot holds the tools brought to a node, one directory per run
// (0700 root): under /var/lib, never /tmp, which may be mounted noexec.
const nodeToolsRoot = "/var/lib/etcd-dr/tools"

// Placeholders for plans shown before preflight chose the tools.
const (
	PhEtcdutl = "<etcdutl: chosen in preflight>"
	PhEtcdctl = "<etcdctl: chosen in preflight>"
)

// ToolUse is how one tool runs on one node: Argv0 is what every later
// command runs under sudo, proven by running `sudo -n -- Argv0 version`.
type ToolUse struct {
	Name  string `json:"name"`  // etcdutl or etcdctl
	Argv0 string `json:"argv0"` // "etcdutl" (the host's, on sudo's PATH) or the brought file's path
	// Bastion is the bastion file brought ("" when the host's is used).
	Bastion string `json:"bastion,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Version string `json:"version,omitempty"` // as the proof printed it
	// Host says what the node's own tool is under sudo, when not used.
	Host string `json:"host,omitempty"`
}

func (u ToolUse) String() string {
	if u.Bastion == "" {
		return fmt.Sprintf("%s %s: the node's own, on sudo's PATH", u.Name, u.Version)
	}
	s := fmt.Sprintf("%s %s: brought from the bastion (%s) to %s", u.Name, u.Version, u.Bastion, u.Argv0)
	if u.Host != "" {
		s += "; the node's own " + u.Host
	}
	return s
}

// etcdutl and etcdctl are the argv[0] preflight proved on m's node (the
// host's by name before it decided, e.g. in `etcd-dr snapshot diff`).
func (m Member) etcdutl() string { return orDefault(m.Etcdutl, etcdtools.Etcdutl) }
func (m Member) etcdctl() string { return orDefault(m.Etcdctl, etcdtools.Etcdctl) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// decideTools chooses, per member, the etcdutl and etcdctl every later
// step runs and proves each exactly as they will run it. bring=false
// (`etcd-dr check`) changes nothing: it says what would be brought.
func (c *Context) decideTools(ctx context.Context, bring bool) error {
	var mu sync.Mutex
	ms := slices.Clone(c.members()) // read while the loop below writes c.Values.Members
	err := c.ForEachNode(ctx, memberNodes(ms), func(ctx context.Context, node string) error {
		m := memberOn(ms, node)
		v, err := etcdtools.ParseVersion(m.EtcdVersion)
		if err != nil {
			return fmt.Errorf("%s: the etcd version of member %s is not known: %w", node, m.Name, err)
		}
		var uses [2]ToolUse
		for i, name := range []string{etcdtools.Etcdutl, etcdtools.Etcdctl} {
			if uses[i], err = c.chooseTool(ctx, node, name, v, bring); err != nil {
				return err
			}
		}
		c.Check(node, "etcd tools match etcd "+v.String(), true, fmt.Sprintf("etcd %s (%s); %s; %s", v, m.EtcdVersionFrom, uses[0], uses[1]))
		mu.Lock()
		defer mu.Unlock()
		for i := range c.Values.Members {
			if c.Values.Members[i].Node == node {
				mm := &c.Values.Members[i]
				mm.Etcdutl, mm.Etcdctl = uses[0].Argv0, uses[1].Argv0
				mm.Tools = uses[:]
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.SaveValues()
}

// chooseTool uses the node's own tool (under sudo, on the PATH sudo gives)
// only when its minor version is the member's etcd's; otherwise it brings
// the bastion's into this run's directory on the node, checks its sha256
// there and runs it once as the restore will.
func (c *Context) chooseTool(ctx context.Context, node, name string, want etcdtools.Version, bring bool) (ToolUse, error) {
	res, err := c.Exec1(ctx, c.toolVersionAction(node, name, name))
	if err != nil {
		return ToolUse{}, err
	}
	hostV, herr := parseToolVersion(name, res)
	if herr == nil && hostV.SameMinor(want) {
		return ToolUse{Name: name, Argv0: name, Version: hostV.String()}, checkMinEtcdutl(node, name, res.Stdout)
	}
	host := "is not on sudo's PATH"
	if herr == nil {
		host = "is " + hostV.String()
	}
	dir, err := etcdtools.Dir(c.Cluster.Etcd.ToolsDir)
	if err != nil {
		return ToolUse{}, err
	}
	t, err := etcdtools.Find(dir, name, want)
	if err != nil {
		return ToolUse{}, fmt.Errorf("%s runs etcd %s and its own %s %s: bring one: %w", node, want, name, host, err)
	}
	sum, err := etcdtools.SHA256(t.Path)
	if err != nil {
		return ToolUse{}, err
	}
	use := ToolUse{Name: name, Argv0: path.Join(c.nodeToolsDir(), name), Bastion: t.Path, SHA256: sum, Version: t.Version.String(), Host: name + " " + host}
	if !bring {
		return use, nil
	}
	if err := c.bringTool(ctx, node, use); err != nil {
		return ToolUse{}, err
	}
	res, err = c.Exec1(ctx, c.toolVersionAction(node, use.Argv0, name))
	if err != nil {
		return ToolUse{}, err
	}
	got, err := parseToolVersion(name, res)
	if err != nil || !got.SameMinor(want) {
		return ToolUse{}, fmt.Errorf("%s: the brought %s does not run under sudo (%v%s): is the node another architecture than the bastion's %s build? "+
			"Put that architecture's static %s in %s", node, use.Argv0, err, stderrTail(res), t.Path, name, dir)
	}
	use.Version = got.String()
	return use, checkMinEtcdutl(node, name, res.Stdout)
}

// nodeToolsDir is this run's directory of brought tools on every node.
func (c *Context) nodeToolsDir() string { return path.Join(nodeToolsRoot, c.val(c.Values.Run, PhRun)) }

// bringScript writes stdin to $1 (0700, in a 0700 dir) unless $1 already
// has sha256 $2 (an earlier attempt of this run brought it).
const bringScript = `set -e; umask 077; f="$1"
if [ -e "$f" ] && [ "$(sha256sum -- "$f" | cut -d' ' -f1)" = "$2" ]; then cat >/dev/null; echo "already here: $f"; exit 0; fi
mkdir -p -m 0700 -- "$(dirname -- "$f")"; cat >"$f.part"; chmod 0700 -- "$f.part"; mv -- "$f.part" "$f"; echo "brought $f"`

// bringTool copies the bastion's tool to the node, then checks its sha256
// there: a copy cut short or changed on the way never runs.
func (c *Context) bringTool(ctx context.Context, node string, u ToolUse) error {
	f, err := os.Open(u.Bastion)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// Bytes and rate like the snapshot copies: etcdutl and etcdctl are
	// ~25 MB each, minutes on a slow link to a far site; a copy that stops
	// moving fails on the stall.
	p := c.startProgress(node, "bring "+u.Name+" "+u.Version+" to "+node, ProgressBytes, st.Size(), time.Time{})
	cp := c.bringAction(node, u)
	cp.Cmd.Stdin = p.reader(f)
	sctx, stop := p.stalled(ctx, c.stallAfter())
	_, err = c.Exec1(sctx, cp)
	stop()
	err = stallCause(sctx, node, err)
	p.end(err)
	if err != nil {
		return err
	}
	res, err := c.Exec1(ctx, Action{Node: node, What: "check the brought " + u.Name + "'s sha256", Cmd: sudo(c.Cluster, "sha256sum", "--", u.Argv0)})
	if err != nil {
		return err
	}
	if got := strings.Fields(res.Stdout); len(got) == 0 || got[0] != u.SHA256 {
		return fmt.Errorf("%s: %s arrived with sha256 %q, the bastion's %s has %s: the copy changed on the way; retry", node, u.Argv0, clip(res.Stdout), u.Bastion, u.SHA256)
	}
	return nil
}

func (c *Context) bringAction(node string, u ToolUse) Action {
	return Action{Node: node, What: "bring the bastion's static " + u.Name + " " + u.Version + " to " + u.Argv0,
		Cmd: shCmd(c.Cluster, bringScript, u.Argv0, c.val(u.SHA256, "<sha256>"))}
}

// toolVersionAction runs `sudo -n -- ARGV0 version`: the same user, sudo
// and PATH as the restore and status commands. Any exit is a result (a
// missing tool is a finding, not a transport error).
func (c *Context) toolVersionAction(node, argv0, name string) Action {
	return Action{Node: node, What: "prove " + name + " runs under sudo as the later steps run it", Cmd: sudo(c.Cluster, argv0, "version"),
		Accept: func(nodes.Result) error { return nil }}
}

var toolVersionRe = regexp.MustCompile(`(etcdutl|etcdctl) version:\s*(\S+)`)

func parseToolVersion(name string, res nodes.Result) (etcdtools.Version, error) {
	m := toolVersionRe.FindStringSubmatch(res.Stdout)
	if res.ExitCode != 0 || m == nil || m[1] != name {
		return etcdtools.Version{}, fmt.Errorf("exit %d, %q", res.ExitCode, clip(strings.TrimSpace(res.Stdout+" "+nodes.StderrWithoutSudoWarnings(res.Stderr))))
	}
	return etcdtools.ParseVersion(m[2])
}

func checkMinEtcdutl(node, name, out string) error {
	if name != etcdtools.Etcdutl {
		return nil
	}
	if err := checkEtcdutlVersion(out); err != nil {
		return fmt.Errorf("%s: %w", node, err)
	}
	return nil
}

// toolPlan lists what preflight runs to choose and prove node's tools.
func (c *Context) toolPlan(node string) []Action {
	out := []Action{}
	if c.systemd() {
		out = append(out, Action{Node: node, What: "read which binary " + c.unit() + ".service starts, then its --version",
			Cmd: nodes.Cmd{Args: []string{"systemctl", "show", "-p", "ExecStart", "--value", c.unit()}}})
	}
	if m := memberOn(c.members(), node); len(m.Tools) > 0 { // decided: what preflight ran
		for _, u := range m.Tools {
			if u.Bastion != "" {
				out = append(out, c.bringAction(node, u))
			}
			out = append(out, c.toolVersionAction(node, u.Argv0, u.Name))
		}
		return out
	}
	for _, name := range []string{etcdtools.Etcdutl, etcdtools.Etcdctl} {
		u := ToolUse{Name: name, Argv0: path.Join(c.nodeToolsDir(), name), Version: "<the member's etcd minor>"}
		host := c.toolVersionAction(node, name, name)
		host.What = "use the node's own " + name + " only if its minor version is the member's etcd's"
		proof := c.toolVersionAction(node, u.Argv0, name)
		proof.What = "else: prove the brought " + name + " (after its sha256 check) exactly as the later steps run it"
		out = append(out, host, c.bringAction(node, u), proof)
	}
	return out
}

// toolFacts say per member which etcdutl and etcdctl the restore uses.
func (c *Context) toolFacts() []string {
	var out []string
	for _, m := range c.Values.Members {
		if len(m.Tools) == 2 {
			out = append(out, fmt.Sprintf("%s: etcd %s; %s; %s", m.Node, m.EtcdVersion, m.Tools[0], m.Tools[1]))
		}
	}
	return out
}

// MemberTools is, for `etcd-dr check`, which etcd a member runs and which
// etcdutl and etcdctl the restore would use on its node, or why none.
type MemberTools struct {
	Node        string    `json:"node"`
	Member      string    `json:"member"`
	EtcdVersion string    `json:"etcdVersion,omitempty"`
	From        string    `json:"from,omitempty"` // where the version was read
	Tools       []ToolUse `json:"tools,omitempty"`
	Err         string    `json:"error,omitempty"`
}

// CheckEtcdTools runs preflight's tool choice read-only: the same version
// reads and `sudo -n -- TOOL version` proofs of the node's own tools, but a
// tool that would be brought is only named (copying it is a write).
func CheckEtcdTools(ctx context.Context, cl *config.Cluster, exec Executor) ([]MemberTools, error) {
	c := &Context{Cluster: cl, Exec: exec}
	if err := c.readInventory(ctx); err != nil {
		return nil, err
	}
	ms := c.members()
	out := make([]MemberTools, len(ms))
	_ = c.parallel(ctx, 0, memberNodes(ms), func(ctx context.Context, node string) error {
		i := slices.IndexFunc(ms, func(m Member) bool { return m.Node == node })
		mt := MemberTools{Node: node, Member: ms[i].Name}
		v, from, err := c.memberEtcdVersion(ctx, ms[i])
		if err == nil {
			mt.EtcdVersion, mt.From = v.String(), from
			for _, name := range []string{etcdtools.Etcdutl, etcdtools.Etcdctl} {
				var u ToolUse
				if u, err = c.chooseTool(ctx, node, name, v, false); err != nil {
					break
				}
				mt.Tools = append(mt.Tools, u)
			}
		}
		if err != nil {
			mt.Err = err.Error()
		}
		out[i] = mt
		return nil
	})
	return out, nil
}

// toolsRunSnapshotDiff names the tools dir `etcd-dr snapshot diff` brings
// etcdctl into on a node without a usable one (it has no run of its own).
const toolsRunSnapshotDiff = "snapshot-diff"

// bringTools reads the members' etcd versions and chooses, brings and
// proves their tools, as preflight does.
func (c *Context) bringTools(ctx context.Context) error {
	if err := c.readEtcdVersions(ctx); err != nil {
		return err
	}
	return c.decideTools(ctx, true)
}
