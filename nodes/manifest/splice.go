package manifest

import (
	"bytes"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// A patch replaces data[start:end] with text (an insertion when start == end).
type patch struct {
	start, end int
	text       string
}

// source indexes the original bytes by line for node positions.
type source struct {
	data       []byte
	lineStarts []int
}

func newSource(data []byte) *source {
	s := &source{data: data, lineStarts: []int{0}}
	for i, b := range data {
		if b == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	return s
}

// offset turns a node's 1-based line and column (counted in characters, as
// the YAML scanner counts them) into a byte offset.
func (s *source) offset(line, col int) (int, bool) {
	if line < 1 || line > len(s.lineStarts) || col < 1 {
		return 0, false
	}
	off := s.lineStarts[line-1]
	for i := 1; i < col; i++ {
		if off >= len(s.data) || s.data[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(s.data[off:])
		off += size
	}
	return off, true
}

// splice turns the difference between the original tree and the edited one
// into byte patches on data. ok is false when the difference is not a set of
// changed scalars and appended sequence scalars in block style.
func splice(data []byte, orig, edited *yaml.Node) ([]byte, bool) {
	src := newSource(data)
	var patches []patch
	if !diff(src, orig, edited, false, &patches) {
		return nil, false
	}
	sort.Slice(patches, func(i, j int) bool { return patches[i].start > patches[j].start })
	out := append([]byte(nil), data...)
	for _, p := range patches {
		out = append(out[:p.start], append([]byte(p.text), out[p.end:]...)...)
	}
	return out, true
}

func diff(src *source, a, b *yaml.Node, inFlow bool, patches *[]patch) bool {
	if a.Kind != b.Kind {
		return false
	}
	flow := inFlow || a.Style&yaml.FlowStyle != 0
	switch a.Kind {
	case yaml.ScalarNode:
		if a.Value == b.Value && a.ShortTag() == b.ShortTag() {
			return true
		}
		return !flow && replaceScalar(src, a, b, patches)
	case yaml.AliasNode:
		return a.Value == b.Value
	case yaml.MappingNode, yaml.DocumentNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
	case yaml.SequenceNode:
		if len(b.Content) < len(a.Content) {
			return false
		}
		if len(b.Content) > len(a.Content) && (flow || !appendItems(src, a, b.Content[len(a.Content):], patches)) {
			return false
		}
	}
	for i := range a.Content {
		if !diff(src, a.Content[i], b.Content[i], flow, patches) {
			return false
		}
	}
	return true
}

// replaceScalar patches the bytes of scalar a with b's value.
func replaceScalar(src *source, a, b *yaml.Node, patches *[]patch) bool {
	start, end, ok := scalarSpan(src, a)
	if !ok {
		return false
	}
	text, ok := renderScalar(b, a.Style)
	if !ok {
		return false
	}
	*patches = append(*patches, patch{start, end, text})
	return true
}

// appendItems inserts new scalar items after the last item of block
// sequence a, each on its own line with the last item's indentation.
func appendItems(src *source, a *yaml.Node, items []*yaml.Node, patches *[]patch) bool {
	if len(a.Content) == 0 {
		return false
	}
	last := a.Content[len(a.Content)-1]
	if last.Kind != yaml.ScalarNode {
		return false
	}
	start, end, ok := scalarSpan(src, last)
	if !ok {
		return false
	}
	lineStart := src.lineStarts[last.Line-1]
	prefix := string(src.data[lineStart:start])
	if strings.Trim(prefix, " -") != "" || !strings.Contains(prefix, "- ") {
		return false // not "    - value": some other layout; re-encode instead
	}
	eolAt := bytes.IndexByte(src.data[end:], '\n')
	nl := "\n"
	if eolAt < 0 {
		eolAt = len(src.data) - end
	}
	at := end + eolAt
	if at > 0 && at <= len(src.data) && at > end && src.data[at-1] == '\r' {
		at--
		nl = "\r\n"
	}
	var text strings.Builder
	for _, it := range items {
		if it.Kind != yaml.ScalarNode {
			return false
		}
		s, ok := renderScalar(it, 0)
		if !ok {
			return false
		}
		text.WriteString(nl + prefix + s)
	}
	*patches = append(*patches, patch{at, at, text.String()})
	return true
}

// scalarSpan finds the bytes of a single-line scalar as written, and checks
// they read back as the node's value.
func scalarSpan(src *source, n *yaml.Node) (int, int, bool) {
	start, ok := src.offset(n.Line, n.Column)
	if !ok || start >= len(src.data) {
		return 0, 0, false
	}
	rest := src.data[start:]
	eol := bytes.IndexAny(rest, "\r\n")
	if eol < 0 {
		eol = len(rest)
	}
	line := rest[:eol]
	end := -1
	switch line[0] {
	case '"':
		for i := 1; i < len(line); i++ {
			if line[i] == '\\' {
				i++
			} else if line[i] == '"' {
				end = i + 1
				break
			}
		}
	case '\'':
		for i := 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				end = i + 1
				break
			}
		}
	case '|', '>', '&', '!', '*':
		return 0, 0, false // block scalars, anchors, tags: re-encode instead
	default:
		end = len(line)
		if i := bytes.Index(line, []byte(" #")); i >= 0 {
			end = i
		}
		end = len(bytes.TrimRight(line[:end], " \t"))
	}
	if end <= 0 || !readsAs(string(line[:end]), n.Value, n.ShortTag()) {
		return 0, 0, false
	}
	return start, start + end, true
}

// renderScalar writes a value as a one-line YAML scalar, preferring the style
// the old value had, and only in a form that reads back as the same value.
func renderScalar(n *yaml.Node, was yaml.Style) (string, bool) {
	v, tag := n.Value, n.ShortTag()
	plain := v
	single := "'" + strings.ReplaceAll(v, "'", "''") + "'"
	double := strconv.Quote(v)
	order := []string{plain, single, double}
	switch {
	case was&yaml.DoubleQuotedStyle != 0:
		order = []string{double, single, plain}
	case was&yaml.SingleQuotedStyle != 0:
		order = []string{single, double, plain}
	}
	for _, s := range order {
		if !strings.ContainsAny(s, "\r\n") && readsAs(s, v, tag) {
			return s, true
		}
	}
	return "", false
}

// readsAs reports whether text, as a sequence item, parses to one scalar with
// the given value and tag.
func readsAs(text, value, tag string) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("- "+text+"\n"), &doc); err != nil {
		return false
	}
	if len(doc.Content) != 1 || len(doc.Content[0].Content) != 1 {
		return false
	}
	got := doc.Content[0].Content[0]
	return got.Kind == yaml.ScalarNode && got.Value == value && got.ShortTag() == tag
}
