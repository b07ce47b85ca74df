package manifest

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Change edits the node tree of a static pod manifest. It receives the Pod's
// top mapping node. Changes may set scalar values and append scalar items to
// sequences; Edit writes those as byte-level changes. Anything else (new
// keys, removed items) is still written, by re-encoding the whole file.
type Change func(pod *yaml.Node) error

// Edit applies changes to a manifest and returns the new bytes. Every byte
// outside the edited values is kept (comments, order, quoting, indentation,
// unknown fields), and the result is re-parsed and compared with the edited
// tree before it is returned, so a value is never written in a form YAML
// would read back differently.
func Edit(data []byte, changes ...Change) ([]byte, error) {
	doc, root, err := parseDoc(data)
	if err != nil {
		return nil, err
	}
	orig := deepCopy(root)
	for _, c := range changes {
		if err := c(root); err != nil {
			return nil, err
		}
	}
	if out, ok := splice(data, orig, root); ok {
		if sameAsTree(out, root) {
			return out, nil
		}
	}
	// The edit was not expressible as byte splices (or the splice did not read
	// back as intended): re-encode. Comments and order survive; spacing may not.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("write edited manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write edited manifest: %w", err)
	}
	if !sameAsTree(buf.Bytes(), root) {
		return nil, fmt.Errorf("edited manifest does not read back as edited; refusing to write it")
	}
	return buf.Bytes(), nil
}

var flagName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// SetFlag sets a flag of the main container to value. Every occurrence in
// command and args is changed (so no stale duplicate remains), keeping its
// form ("--name=value" or "--name" "value"); an absent flag is appended as
// "--name=value" after the last flag. value is data: it is stored verbatim.
func SetFlag(name, value string) Change {
	return func(pod *yaml.Node) error {
		want := strings.TrimLeft(name, "-")
		if !flagName.MatchString(want) {
			return fmt.Errorf("set flag %q: not a flag name", name)
		}
		c, err := mainContainerNode(pod)
		if err != nil {
			return fmt.Errorf("set --%s: %w", want, err)
		}
		items, argv := argvNodes(c)
		found, lastFlag := false, -1
		for i := 0; i < len(argv); i++ {
			f, ok := flagAt(argv, i)
			if !ok {
				if argv[i] == "--" {
					break
				}
				continue
			}
			lastFlag = i
			if f.name == want {
				found = true
				dashes := argv[i][:len(argv[i])-len(strings.TrimLeft(argv[i], "-"))]
				switch {
				case f.valueIdx > i && !strings.HasPrefix(value, "-"):
					setString(items[f.valueIdx], value)
				case f.valueIdx > i:
					// A separate value starting with "-" would read as the
					// next flag: join it to the flag instead.
					setString(items[i], dashes+want+"="+value)
					removeItem(c, items[f.valueIdx])
				default:
					setString(items[i], dashes+want+"="+value)
				}
			}
			if f.valueIdx > i {
				i = f.valueIdx
			}
		}
		if found {
			return nil
		}
		return appendFlag(c, items, lastFlag, "--"+want+"="+value)
	}
}

// appendFlag adds a flag element after the last flag, or at the end of
// command (else args) when there is no flag yet.
func appendFlag(c *yaml.Node, items []*yaml.Node, lastFlag int, elem string) error {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: elem}
	var seq *yaml.Node
	if lastFlag >= 0 {
		seq = parentSeq(c, items[lastFlag])
	} else if seq = lookup(c, "command"); seq == nil {
		seq = lookup(c, "args")
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return fmt.Errorf("set %s: the main container has no command or args list", elem)
	}
	seq.Content = append(seq.Content, n)
	return nil
}

// removeItem drops item from command or args.
func removeItem(c, item *yaml.Node) {
	if s := parentSeq(c, item); s != nil {
		for i, x := range s.Content {
			if x == item {
				s.Content = append(s.Content[:i], s.Content[i+1:]...)
				return
			}
		}
	}
}

// parentSeq returns whichever of command/args holds item.
func parentSeq(c, item *yaml.Node) *yaml.Node {
	for _, k := range []string{"command", "args"} {
		if s := lookup(c, k); s != nil {
			for _, x := range s.Content {
				if x == item {
					return s
				}
			}
		}
	}
	return nil
}

// SetHostPath points the hostPath volume named volume at p, an absolute path
// on the node. p is data: it is stored verbatim.
func SetHostPath(volume, p string) Change {
	return func(pod *yaml.Node) error {
		if !path.IsAbs(p) {
			return fmt.Errorf("set hostPath of volume %q to %q: not an absolute path", volume, p)
		}
		vols := lookup(pod, "spec", "volumes")
		if vols != nil && vols.Kind == yaml.SequenceNode {
			for _, v := range vols.Content {
				if n := lookup(v, "name"); n == nil || n.Value != volume {
					continue
				}
				hp := lookup(v, "hostPath", "path")
				if hp == nil || hp.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: volume %q is not a hostPath volume", v.Line, volume)
				}
				setString(hp, p)
				return nil
			}
		}
		return fmt.Errorf("line %d: no volume %q in spec.volumes", pod.Line, volume)
	}
}

// setString gives a scalar a new string value. The style is reset so a
// re-encode picks a quoting that keeps the value a string.
func setString(n *yaml.Node, v string) {
	if n.Value == v && n.ShortTag() == "!!str" {
		return
	}
	n.Value, n.Tag, n.Style = v, "!!str", 0
}

// mainContainerNode finds the component's container in the tree, chosen as
// Parse chooses it.
func mainContainerNode(pod *yaml.Node) (*yaml.Node, error) {
	seq := lookup(pod, "spec", "containers")
	if seq == nil || seq.Kind != yaml.SequenceNode || len(seq.Content) == 0 {
		return nil, fmt.Errorf("line %d: no spec.containers", pod.Line)
	}
	podName := ""
	if n := lookup(pod, "metadata", "name"); n != nil {
		podName = n.Value
	}
	i := mainIndex(podName, func(i int) string {
		if n := lookup(seq.Content[i], "name"); n != nil {
			return n.Value
		}
		return ""
	}, len(seq.Content))
	if seq.Content[i].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: container is not a mapping", seq.Content[i].Line)
	}
	return seq.Content[i], nil
}

// argvNodes lists command then args as nodes and as strings.
func argvNodes(c *yaml.Node) ([]*yaml.Node, []string) {
	var items []*yaml.Node
	var argv []string
	for _, k := range []string{"command", "args"} {
		s := lookup(c, k)
		if s == nil || s.Kind != yaml.SequenceNode {
			continue
		}
		for _, x := range s.Content {
			items = append(items, x)
			argv = append(argv, x.Value)
		}
	}
	return items, argv
}

// deepCopy copies a node tree (aliases keep pointing into the copy's source,
// which is fine: they are compared, not edited).
func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = deepCopy(x)
	}
	return &c
}

// sameAsTree reports whether data parses to a tree equal to want.
func sameAsTree(data []byte, want *yaml.Node) bool {
	_, got, err := parseDoc(data)
	return err == nil && equalTree(got, want)
}

// equalTree compares what YAML means, not how it is written.
func equalTree(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || len(a.Content) != len(b.Content) {
		return false
	}
	if a.Kind == yaml.ScalarNode && (a.Value != b.Value || a.ShortTag() != b.ShortTag()) {
		return false
	}
	if a.Kind == yaml.AliasNode {
		return a.Value == b.Value
	}
	for i := range a.Content {
		if !equalTree(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}
