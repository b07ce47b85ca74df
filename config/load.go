package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the cluster file: a real one is a few kilobytes, and a
// runaway file (a snapshot passed by mistake) should fail fast and clearly.
const MaxFileSize = 1 << 20

// Env is what the loader reads from the bastion besides the file itself:
// environment variables (for $VARS in bastion-side paths), the home directory
// (for ~) and the current user (the default ssh.user). Load uses the process's
// own; tests pass a fixed one so results do not depend on who runs them.
type Env struct {
	LookupEnv func(key string) (string, bool)
	Home      string // "" when unknown: a path starting with ~ is then an error
	User      string // "" when unknown: ssh.user must then be set
}

// ProcessEnv returns the Env of the running process.
func ProcessEnv() Env {
	env := Env{LookupEnv: os.LookupEnv}
	if home, err := os.UserHomeDir(); err == nil {
		env.Home = home
	}
	if u, err := user.Current(); err == nil {
		env.User = u.Username
	} else if name, ok := os.LookupEnv("USER"); ok {
		env.User = name
	}
	return env
}

// Load reads, defaults and validates the cluster file at path, using the
// process's environment (see LoadEnv).
func Load(path string) (*Cluster, []Diagnostic, error) {
	return LoadEnv(path, ProcessEnv())
}

// LoadEnv reads the cluster file at path and returns the effective Cluster
// (defaults filled, bastion-side paths expanded and made absolute) and the
// warnings found, sorted by position.
//
// When the file has errors, the Cluster is nil and the error is an *Errors
// holding every error found (not just the first), sorted by position; its
// Error() prints one "file:line:col: error: msg" per line. Warnings are
// returned in both cases. A file that cannot be read is a plain error.
func LoadEnv(path string, env Env) (*Cluster, []Diagnostic, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read cluster file: %w (check the -f path)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read cluster file %s: %w", path, err)
	}
	return Parse(path, data, env)
}

// Parse is LoadEnv on bytes already read; file names them in messages, and
// relative bastion-side paths are taken relative to file's directory (so a
// cluster file and its snapshot can move together).
func Parse(file string, data []byte, env Env) (*Cluster, []Diagnostic, error) {
	if env.LookupEnv == nil {
		env.LookupEnv = func(string) (string, bool) { return "", false }
	}
	r := &report{file: file}
	c := parse(r, file, data, env)
	errs, warns := r.split()
	if len(errs) > 0 {
		return nil, warns, &Errors{Diagnostics: errs}
	}
	return c, warns, nil
}

func parse(r *report, file string, data []byte, env Env) *Cluster {
	if len(data) > MaxFileSize {
		r.errorf(pos{}, "file is larger than %d bytes; is it really the cluster file?", MaxFileSize)
		return nil
	}
	root := parseYAML(r, data)
	if root == nil {
		return nil
	}
	c := &Cluster{File: file}
	d := newDecoder(r)
	d.value("", nil, root, reflect.ValueOf(c).Elem())
	if !d.set("") {
		r.errorf(pos{root.Line, root.Column}, "the file is empty; it needs at least cluster:, snapshot: and nodes:")
		return nil
	}
	if d.bad[""] {
		return nil
	}
	base, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		r.errorf(pos{}, "cannot resolve the directory of the cluster file: %v", err)
		return nil
	}
	v := &validator{c: c, d: d, r: r, env: env, base: base}
	v.defaults()
	v.validate()
	return c
}

// yamlLine finds the line yaml.v3 puts in its syntax errors
// ("yaml: line 3: mapping values are not allowed in this context").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlAnchor is yaml.v3's one positionless complaint about a file's content.
var yamlAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)

// parseYAML returns the top node of the only document in data, or nil after
// reporting why there is none.
func parseYAML(r *report, data []byte) *yaml.Node {
	// yaml.v3 reports bad bytes without a position; find them first.
	if p, what := badByte(data); what != "" {
		r.errorf(p, "the file contains %s, which YAML does not allow; remove it", what)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			r.errorf(pos{1, 1}, "the file is empty; it needs at least cluster:, snapshot: and nodes:")
			return nil
		}
		syntaxError(r, data, err)
		return nil
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		syntaxError(r, data, err)
		return nil
	default:
		r.errorf(pos{next.Line, next.Column}, "a second YAML document starts here; a cluster file holds one cluster (remove the extra ---)")
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		r.errorf(pos{1, 1}, "the file is empty; it needs at least cluster:, snapshot: and nodes:")
		return nil
	}
	return doc.Content[0]
}

// badByte finds the first byte sequence YAML forbids (invalid UTF-8, or a
// control character other than tab and line breaks) and describes it.
func badByte(data []byte) (pos, string) {
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return pos{line, col}, fmt.Sprintf("a byte that is not UTF-8 (0x%02x; was the file saved in another encoding?)", data[i])
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85:
		case r < 0x20 || r >= 0x7f && r < 0xa0 || r == 0xfffe || r == 0xffff:
			return pos{line, col}, fmt.Sprintf("a control character (%U)", r)
		}
		i += size
		col++
	}
	return pos{}, ""
}

// yamlParserProblem reports whether msg comes from yaml.v3's parser (not its
// scanner). For these it prints a 0-based line (decode.go, parser.fail), so
// one is added to it.
func yamlParserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected '-' indicator", "did not find expected <document start>",
		"did not find expected key", "did not find expected node content",
		"found duplicate %TAG directive", "found duplicate %YAML directive",
		"found incompatible YAML document", "found undefined tag handle":
		return true
	}
	return false
}

// syntaxError turns a yaml.v3 error into a diagnostic. yaml.v3 gives a line
// (of the problem, or of the construct it is in) but no column, and leaves
// the line out when it is the first one.
func syntaxError(r *report, data []byte, err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if yamlParserProblem(m[2]) {
			line++
		}
		hint := syntaxHint(m[2])
		if hint == "" && leadingTab(data, line) {
			hint = " (this line is indented with a tab; YAML needs spaces)"
		}
		r.errorf(pos{line, 0}, "YAML syntax: %s%s", m[2], hint)
		return
	}
	if m := yamlAnchor.FindStringSubmatch(msg); m != nil {
		r.errorf(find(data, "*"+m[1]), "YAML syntax: *%s refers to no &%s anchor before it", m[1], m[1])
		return
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	r.errorf(pos{1, 0}, "YAML syntax: %s%s", msg, syntaxHint(msg))
}

func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "'}'"):
		return " (is a { left unclosed?)"
	case strings.Contains(msg, "']'"):
		return " (is a [ left unclosed?)"
	case strings.Contains(msg, "tab character"):
		return " (indent with spaces, not tabs)"
	}
	return ""
}

// leadingTab reports whether line (1-based) of data is indented with a tab.
func leadingTab(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return false
	}
	indent := lines[line-1][:len(lines[line-1])-len(bytes.TrimLeft(lines[line-1], " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}

// find returns the position of the first occurrence of s in data, or line
// 1 when it is not there.
func find(data []byte, s string) pos {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return pos{1, 0}
	}
	line := 1 + bytes.Count(data[:i], []byte("\n"))
	col := 1 + utf8.RuneCount(data[bytes.LastIndexByte(data[:i], '\n')+1:i])
	return pos{line, col}
}
