package steps

import (
	"fmt"
	"github.com/etcd-dr/etcd-dr/config"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// usedTool is a program some step code runs on a node, and how: under
// sudo (Cmd.Sudo set) or as the login.
type usedTool struct {
	Name string
	Sudo bool
}

func (u usedTool) String() string {
	if u.Sudo {
		return u.Name + " (sudo)"
	}
	return u.Name + " (login)"
}

// argvBuilders are the functions whose result is a whole argv the walker
// cannot read as a literal, with the program they start: a new builder
// must be named here (the walker fails on one it does not know).
var argvBuilders = map[string]string{
	"pgrepArgs":   "pgrep",
	"etcdctlArgs": "etcdctl", // decideTools proves it, per member
}

// shBuiltins run inside the shell (dash and bash alike): no program to find.
var shBuiltins = []string{".", ":", "[", "break", "cd", "command", "continue", "echo", "eval", "exec", "exit", "export",
	"false", "getopts", "kill", "local", "printf", "pwd", "read", "readonly", "return", "set", "shift", "test", "trap",
	"true", "type", "ulimit", "umask", "unset", "wait"}

// walkStepCommands reads every non-test Go file of package steps and
// returns each program a command builder there runs on a node: the first
// word of a nodes.Cmd's Args, of sudo(cluster, ...) and, for a shell
// script given to shCmd, every command word the script runs (parsed as
// sh parses it). Unreadable forms are returned as problems, so a command
// written in a new way fails the test rather than being missed.
func walkStepCommands(t *testing.T, dir string) (map[usedTool][]string, []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{} // string constants of the package, for scripts
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, af)
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if v, ok := stringLit(vs.Values[i], consts); ok {
							consts[n.Name] = v
						}
					}
				}
			}
		}
	}
	used := map[usedTool][]string{}
	var problems []string
	add := func(pos token.Pos, name string, sudo bool) {
		u := usedTool{Name: name, Sudo: sudo}
		used[u] = append(used[u], fset.Position(pos).String())
	}
	addScript := func(pos token.Pos, script string, sudo bool) {
		f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(script), "")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: script does not parse: %v", fset.Position(pos), err))
			return
		}
		syntax.Walk(f, func(n syntax.Node) bool {
			ce, ok := n.(*syntax.CallExpr)
			if !ok || len(ce.Args) == 0 {
				return true
			}
			words := ce.Args
			for len(words) > 0 && words[0].Lit() == "exec" {
				words = words[1:]
			}
			if len(words) == 0 {
				return true
			}
			w := words[0].Lit()
			switch {
			case w == "":
				if p, ok := words[0].Parts[0].(*syntax.DblQuoted); ok && len(p.Parts) == 1 {
					if pe, ok := p.Parts[0].(*syntax.ParamExp); ok && pe.Param.Value == "@" {
						return true // "$@": the argv the step passes, read from the Go side
					}
				}
				problems = append(problems, fmt.Sprintf("%s: a script runs a command whose name is not a literal", fset.Position(pos)))
			case !slices.Contains(shBuiltins, w):
				add(pos, w, sudo)
			}
			return true
		})
	}
	for _, af := range parsed {
		ast.Inspect(af, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				sel, ok := x.Type.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Cmd" {
					return true
				}
				if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "nodes" {
					return true
				}
				var args ast.Expr
				sudo := false
				for _, e := range x.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch kv.Key.(*ast.Ident).Name {
					case "Args":
						args = kv.Value
					case "Sudo":
						sudo = !isIdent(kv.Value, "false")
					case "Script":
						problems = append(problems, fmt.Sprintf("%s: nodes.Cmd{Script: ...}: use shCmd so the walker reads the script", fset.Position(x.Pos())))
					}
				}
				if args == nil {
					return true
				}
				if isIdent(args, "args") && sudo { // func sudo(c, args...) itself
					return true
				}
				if call, ok := args.(*ast.CallExpr); ok && isIdent(call.Fun, "append") { // shCmd's own body
					if lit, ok := call.Args[0].(*ast.CompositeLit); ok && len(lit.Elts) > 0 {
						if s, ok := stringLit(lit.Elts[0], consts); ok && s == "sh" {
							return true // read at each shCmd call
						}
					}
				}
				lit, ok := args.(*ast.CompositeLit)
				if !ok || len(lit.Elts) == 0 {
					problems = append(problems, fmt.Sprintf("%s: nodes.Cmd whose Args is not a literal list", fset.Position(x.Pos())))
					return true
				}
				name, ok := stringLit(lit.Elts[0], consts)
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: nodes.Cmd whose program is not a literal", fset.Position(x.Pos())))
					return true
				}
				add(x.Pos(), name, sudo)
			case *ast.CallExpr:
				switch {
				case isIdent(x.Fun, "sudo") && len(x.Args) >= 2:
					first := x.Args[1]
					if s, ok := stringLit(first, consts); ok {
						add(x.Pos(), s, true)
						return true
					}
					if call, ok := first.(*ast.CallExpr); ok && x.Ellipsis.IsValid() {
						if id, ok := call.Fun.(*ast.Ident); ok && argvBuilders[id.Name] != "" {
							add(x.Pos(), argvBuilders[id.Name], true)
							return true
						}
					}
					if id, ok := first.(*ast.Ident); ok && x.Ellipsis.IsValid() && id.Name == "args" {
						if b := builderOf(af, x, consts); b != "" {
							add(x.Pos(), b, true)
							return true
						}
					}
					if prog := knownArgv0(first); prog != "" {
						add(x.Pos(), prog, true)
						return true
					}
					problems = append(problems, fmt.Sprintf("%s: sudo(...) whose program the walker cannot read: name its builder in argvBuilders", fset.Position(x.Pos())))
				case isIdent(x.Fun, "shCmd") && len(x.Args) >= 2:
					add(x.Pos(), "sh", true)
					s, ok := stringLit(x.Args[1], consts)
					if !ok {
						if isIdent(x.Args[1], "script") { // shCmd's callers pass it on
							return true
						}
						problems = append(problems, fmt.Sprintf("%s: shCmd with a script that is not a constant", fset.Position(x.Pos())))
						return true
					}
					addScript(x.Pos(), s, true)
				}
			}
			return true
		})
	}
	return used, problems
}

// knownArgv0 is the program an argv[0] expression names when it is one of
// the etcd tools preflight chose and proved (decideTools) or the etcd
// binary the member's unit starts (read from the unit, run as the unit would).
func knownArgv0(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		if x.Name == "argv0" {
			return "etcd tool (decideTools)"
		}
		if x.Name == "bin" {
			return "etcd (the unit's ExecStart)"
		}
	case *ast.CallExpr:
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "etcdutl" || sel.Sel.Name == "etcdctl") {
			return sel.Sel.Name
		}
	}
	return ""
}

// builderOf finds, in the function around call, what `args` was built
// from: `args := append(BUILDER(...), ...)` or `args := BUILDER(...)`.
func builderOf(f *ast.File, call *ast.CallExpr, consts map[string]string) string {
	var found string
	ast.Inspect(f, func(n ast.Node) bool {
		fd, ok := n.(*ast.FuncDecl)
		if !ok || fd.Body == nil || call.Pos() < fd.Body.Pos() || call.Pos() > fd.Body.End() {
			return true
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			as, ok := n.(*ast.AssignStmt)
			if !ok || len(as.Lhs) != 1 || !isIdent(as.Lhs[0], "args") || len(as.Rhs) != 1 {
				return true
			}
			rhs := as.Rhs[0]
			if c, ok := rhs.(*ast.CallExpr); ok && isIdent(c.Fun, "append") && len(c.Args) > 0 {
				rhs = c.Args[0]
			}
			if c, ok := rhs.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok && argvBuilders[id.Name] != "" {
					found = argvBuilders[id.Name]
				}
			}
			return true
		})
		return false
	})
	return found
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// stringLit is the value of a string literal, a known string constant, or
// a + of them.
func stringLit(e ast.Expr, consts map[string]string) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.Ident:
		s, ok := consts[x.Name]
		return s, ok
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := stringLit(x.X, consts)
		b, ok2 := stringLit(x.Y, consts)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return stringLit(x.X, consts)
	}
	return "", false
}

// etcdTools are the programs the walker finds that NodeTools leaves to
// decideTools (etcdutl, etcdctl: chosen and proved per member) and to the
// etcd version read (the binary the member's unit starts).
var etcdTools = []string{"etcdctl", "etcdutl", "etcd tool (decideTools)", "etcd (the unit's ExecStart)"}

func TestNodeToolsListEveryProgramTheStepsRun(t *testing.T) {
	used, problems := walkStepCommands(t, ".")
	for _, p := range problems {
		t.Error(p)
	}
	if len(used) < 20 {
		t.Fatalf("the walker found only %d programs in the step code: is it still reading it? %v", len(used), used)
	}
	for u, where := range used {
		if slices.Contains(etcdTools, u.Name) {
			continue
		}
		if !slices.ContainsFunc(NodeTools, func(n NodeTool) bool { return n.Name == u.Name && n.Sudo == u.Sudo }) {
			t.Errorf("%s is run by the steps (%s) but not in NodeTools: preflight would not look it up; add it with its roles", u, strings.Join(where, ", "))
		}
	}
	for _, n := range NodeTools {
		if n.Name == "timeout" || (n.Name == "sh" && !n.Sudo) { // the runner's wrapper (nodes/quote.go); the lookup's own shell
			continue
		}
		if _, ok := used[usedTool{Name: n.Name, Sudo: n.Sudo}]; !ok {
			t.Errorf("NodeTools lists %s (sudo %v), which no step runs any more: remove it", n.Name, n.Sudo)
		}
	}
}

// The walker itself: a program added in each form a step writes commands
// in is found, and a form it cannot read is a problem, not a silent miss.
func TestTheStepCommandWalkerFindsEachForm(t *testing.T) {
	tests := []struct {
		name, src string
		want      []usedTool
		problem   string
	}{
		{"nodes.Cmd as the login", `nodes.Cmd{Args: []string{"newtool", "-x"}}`, []usedTool{{"newtool", false}}, ""},
		{"nodes.Cmd under sudo", `nodes.Cmd{Args: []string{"newtool"}, Sudo: c.Cluster.SSH.Sudo}`, []usedTool{{"newtool", true}}, ""},
		{"sudo()", `sudo(c.Cluster, "newtool", "--", f)`, []usedTool{{"newtool", true}}, ""},
		{"a script's commands, through exec, pipes and $()", "shCmd(c.Cluster, `set -e; x=$(newtool -a \"$1\"); if [ -e x ]; then exec other -- \"$1\" | third; fi; \"$@\"`, f)",
			[]usedTool{{"sh", true}, {"newtool", true}, {"other", true}, {"third", true}}, ""},
		{"a known argv builder", `sudo(c.Cluster, pgrepArgs("etcd", false)...)`, []usedTool{{"pgrep", true}}, ""},
		{"an unknown argv builder", `sudo(c.Cluster, newArgs()...)`, nil, "cannot read"},
		{"a script that is not a constant", `shCmd(c.Cluster, pick(), f)`, []usedTool{{"sh", true}}, "not a constant"},
		{"a script running a variable", "shCmd(c.Cluster, `$cmd -x`)", []usedTool{{"sh", true}}, "not a literal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "package steps\n\nfunc f() { _ = " + tt.src + " }\n"
			if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			used, problems := walkStepCommands(t, dir)
			for _, w := range tt.want {
				if _, ok := used[w]; !ok {
					t.Errorf("%s not found; got %v", w, used)
				}
			}
			if len(used) != len(tt.want) {
				t.Errorf("found %v, want exactly %v", used, tt.want)
			}
			joined := strings.Join(problems, "\n")
			if (tt.problem == "") != (joined == "") || !strings.Contains(joined, tt.problem) {
				t.Errorf("problems %q, want one saying %q", joined, tt.problem)
			}
		})
	}
}

// Every command the plans show (preflight, steps 1-5, verify, rollback),
// on the node it runs on, runs only programs preflight looks up on that
// node, under the same sudo: the roles in NodeTools are checked against
// the plans, for a bastion snapshot, one on a node and one taken from a
// member.
func TestEveryPlannedProgramIsLookedUpOnItsNode(t *testing.T) {
	for _, tc := range []struct {
		name, on, from string
		preflight      bool
	}{
		{"snapshot on the bastion, after preflight", "", "", true},
		{"snapshot on cp-2, after preflight", "cp-2", "", true},
		{"snapshot from the best member, before preflight", "", "best-member", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := scenarioCluster("stacked")
			if tc.on != "" {
				cl.Snapshot = config.Snapshot{Path: "/var/backups/etcd/snap.db", On: tc.on}
				cl.State.Dir = "/home/ops/.local/state/etcd-dr"
			}
			if tc.from != "" {
				cl.Snapshot = config.Snapshot{From: tc.from, On: config.SnapshotOnBastion}
				cl.State.Dir = "/home/ops/.local/state/etcd-dr"
			}
			var v Values
			if tc.preflight {
				v = afterPreflight(t, "stacked", cl)
			}
			c := &Context{Cluster: cl, Values: v}
			checked := 0
			for _, rb := range [][]Step{Runbook(), RollbackRunbook()} {
				planned, err := PlanSteps(cl, v, rb)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range planned {
					for _, a := range s.Actions {
						node := a.Node
						if strings.HasPrefix(node, "<") { // a member picked later (snapshot.from): any member
							node = cl.NodesWith(config.RoleEtcd)[0].Name
						}
						sudo, login := c.toolsNeeded(node)
						need := login
						if a.Cmd.Sudo {
							need = sudo
						}
						for _, prog := range programsOf(t, a.Cmd.Args) {
							checked++
							if !slices.ContainsFunc(need, func(n NodeTool) bool { return n.Name == prog }) {
								t.Errorf("%s on %s runs %s (sudo %v) for %q, but preflight does not look it up there: fix its roles in NodeTools",
									s.ID, a.Node, prog, a.Cmd.Sudo, a.What)
							}
						}
					}
				}
			}
			if checked < 50 {
				t.Fatalf("only %d programs read from the plans", checked)
			}
		})
	}
}

// programsOf are the programs argv runs: its argv[0], and for sh -c the
// script's commands; the etcd tools (decideTools') and paths are left out.
func programsOf(t *testing.T, argv []string) []string {
	t.Helper()
	if len(argv) == 0 {
		return nil
	}
	var out []string
	add := func(p string) {
		if !strings.Contains(p, "/") && !strings.HasPrefix(p, "<") && !slices.Contains(etcdTools, p) {
			out = append(out, p)
		}
	}
	add(argv[0])
	if argv[0] != "sh" || len(argv) < 3 || argv[1] != "-c" {
		return out
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(argv[2]), "")
	if err != nil {
		t.Fatalf("script does not parse: %v\n%s", err, argv[2])
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		if ce, ok := n.(*syntax.CallExpr); ok {
			words := ce.Args
			for len(words) > 0 && words[0].Lit() == "exec" {
				words = words[1:]
			}
			if len(words) > 0 && words[0].Lit() != "" && !slices.Contains(shBuiltins, words[0].Lit()) {
				add(words[0].Lit())
			}
		}
		return true
	})
	return out
}
