package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Effective renders the cluster as the YAML etcd-dr acts on: every default
// filled, bastion-side paths expanded, durations as "10s". It is itself a
// valid cluster file (what `etcd-dr check --print-config` prints), so an
// operator can pin today's defaults by saving it.
func (c *Cluster) Effective() ([]byte, error) {
	root := encode(reflect.ValueOf(*c))
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("render effective cluster file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render effective cluster file: %w", err)
	}
	return b.Bytes(), nil
}

// encode builds the node tree by hand so durations read as "5m" rather than
// nanoseconds or "5m0s", and each node stays on one line like in the sketch.
func encode(v reflect.Value) *yaml.Node {
	if v.Type() == durationType {
		return scalar("!!str", formatDuration(time.Duration(v.Int())))
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if v.Type() == reflect.TypeFor[Node]() {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i < v.NumField(); i++ {
			name, opts, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" || (opts == "omitempty" && v.Field(i).IsZero()) {
				continue
			}
			n.Content = append(n.Content, scalar("!!str", name), encode(v.Field(i)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() == reflect.String {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, encode(v.Index(i)))
		}
		return n
	case reflect.Int:
		return scalar("!!int", strconv.FormatInt(v.Int(), 10))
	case reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(v.Bool()))
	default:
		return scalar("!!str", v.String())
	}
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

// formatDuration drops the zero units time.Duration.String adds: 5m, not 5m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
