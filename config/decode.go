package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder fills a Cluster from a yaml.Node tree by hand instead of with
// yaml.Node.Decode, because yaml.v3 stops at the first problem and loses
// positions: here every unknown key, wrong type and bad duration is reported
// with its line and column, and the position of every key is kept for the
// validation messages that follow.
type decoder struct {
	r *report
	// at is the position of each value set in the file, by path ("ssh.port",
	// "nodes[1].roles[0]"). A key with a null value is absent from it, so the
	// default applies, as if the key were not there.
	at map[string]pos
	// keys is the position of each known key, null values included, for
	// messages about a key whose value is missing ("snapshot:" alone).
	keys map[string]pos
	// bad marks paths whose value could not be decoded: validation skips
	// them so one mistake is reported once, not again as "missing".
	bad map[string]bool
}

var durationType = reflect.TypeFor[time.Duration]()

func newDecoder(r *report) *decoder {
	return &decoder{r: r, at: map[string]pos{}, keys: map[string]pos{}, bad: map[string]bool{}}
}

// where returns the position to blame for path: its value if set, else its
// key, else the nearest enclosing value or key, else the top of the file.
func (d *decoder) where(path string) pos {
	for {
		if p, ok := d.at[path]; ok {
			return p
		}
		if p, ok := d.keys[path]; ok {
			return p
		}
		if path == "" {
			return pos{1, 1}
		}
		path = parent(path)
	}
}

// set reports whether path was given a non-null value in the file.
func (d *decoder) set(path string) bool {
	_, ok := d.at[path]
	return ok
}

// ok reports whether path is set and decoded without error.
func (d *decoder) ok(path string) bool { return d.set(path) && !d.bad[path] }

func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// value decodes n into v, which must be addressable. key is the mapping key
// n is the value of, or nil for list items and the top of the file.
func (d *decoder) value(path string, key, n *yaml.Node, v reflect.Value) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	// Problems with a scalar point at the value; problems with a whole
	// mapping or list ("no node has role etcd") point at its key.
	p := pos{n.Line, n.Column}
	if key != nil && n.Kind != yaml.ScalarNode {
		p = pos{key.Line, key.Column}
	}
	d.at[path] = p
	if v.Type() == durationType {
		d.duration(path, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(path, n, v)
	case reflect.Slice:
		d.sequence(path, n, v)
	case reflect.String:
		if d.expect(path, n, yaml.ScalarNode, "a string") {
			v.SetString(n.Value)
		}
	case reflect.Int:
		d.integer(path, n, v)
	case reflect.Bool:
		d.boolean(path, n, v)
	default:
		// Only reachable if types.go gains a field of a new kind.
		panic(fmt.Sprintf("config: no decoder for %s (%s)", path, v.Type()))
	}
}

func (d *decoder) expect(path string, n *yaml.Node, kind yaml.Kind, what string) bool {
	if n.Kind == kind {
		return true
	}
	d.bad[path] = true
	if path == "" {
		d.r.errorf(pos{n.Line, n.Column}, "the cluster file must be a mapping of keys (cluster:, snapshot:, nodes:), found %s", kindName(n))
		return false
	}
	d.r.errorf(pos{n.Line, n.Column}, "%s: want %s, found %s", path, what, kindName(n))
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// resolveAlias follows *alias references. The depth of the schema bounds how
// often a value can be expanded, so anchors cannot blow the loader up.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 10; i++ {
		n = n.Alias
	}
	return n
}

// mapping decodes a YAML mapping into the struct v, field by yaml tag.
func (d *decoder) mapping(path string, n *yaml.Node, v reflect.Value) {
	if !d.expect(path, n, yaml.MappingNode, "a mapping (key: value lines)") {
		return
	}
	fields := map[string]int{}
	var names []string
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
			names = append(names, name)
		}
	}
	firstAt := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		kp := pos{k.Line, k.Column}
		if k.Kind != yaml.ScalarNode {
			d.r.errorf(kp, "%s: keys must be plain words, found %s", orTop(path), kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			d.bad[path] = true // its keys are missing: do not also report them
			d.r.errorf(kp, "%s: merge keys (<<) are not supported; write the keys out", orTop(path))
			continue
		}
		if line, dup := firstAt[k.Value]; dup {
			d.r.errorf(kp, "%s is given twice (first on line %d); keep one", join(path, k.Value), line)
			continue
		}
		firstAt[k.Value] = k.Line
		idx, known := fields[k.Value]
		if !known {
			guess := closest(k.Value, names)
			if guess != "" {
				// The key meant is missing; saying so again would be noise.
				d.bad[join(path, guess)] = true
			}
			d.r.errorf(kp, "%s: unknown key %q%s", orTop(path), k.Value, meant(guess))
			continue
		}
		d.keys[join(path, k.Value)] = kp
		d.value(join(path, k.Value), k, val, v.Field(idx))
	}
	if nd, isNode := v.Addr().Interface().(*Node); isNode {
		nd.Line = n.Line
	}
}

func orTop(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func (d *decoder) sequence(path string, n *yaml.Node, v reflect.Value) {
	if !d.expect(path, n, yaml.SequenceNode, "a list") {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(fmt.Sprintf("%s[%d]", path, i), nil, item, s.Index(i))
	}
	v.Set(s)
}

func (d *decoder) integer(path string, n *yaml.Node, v reflect.Value) {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		d.bad[path] = true
		d.r.errorf(pos{n.Line, n.Column}, "%s: want a whole number, found %s", path, kindName(n))
		return
	}
	v.SetInt(int64(i))
}

func (d *decoder) boolean(path string, n *yaml.Node, v reflect.Value) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.bad[path] = true
		d.r.errorf(pos{n.Line, n.Column}, "%s: want true or false, found %s", path, kindName(n))
		return
	}
	v.SetBool(b)
}

// duration reads a Go duration string. A bare number is refused rather than
// guessed as seconds: "10" meaning ten nanoseconds or ten minutes is exactly
// the ambiguity that turns into a 3 a.m. timeout.
func (d *decoder) duration(path string, n *yaml.Node, v reflect.Value) {
	p := pos{n.Line, n.Column}
	if !d.expect(path, n, yaml.ScalarNode, `a duration like "10s"`) {
		return
	}
	dur, err := time.ParseDuration(n.Value)
	switch {
	case err != nil && isNumber(n.Value):
		d.bad[path] = true
		d.r.errorf(p, "%s: %q has no unit; write a duration like \"%ss\" or \"5m\"", path, n.Value, n.Value)
	case err != nil:
		d.bad[path] = true
		d.r.errorf(p, "%s: %q is not a duration; write one like \"10s\", \"5m\" or \"1h30m\"", path, n.Value)
	case dur <= 0:
		d.bad[path] = true
		d.r.errorf(p, "%s: %q must be longer than zero, like \"10s\"", path, n.Value)
	default:
		v.SetInt(int64(dur))
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
