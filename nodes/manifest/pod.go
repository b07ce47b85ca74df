// Package manifest reads and edits kubeadm static pod manifests (etcd.yaml,
// kube-apiserver.yaml, kube-scheduler.yaml, kube-controller-manager.yaml) and
// the systemd-mode etcd environment file, with gopkg.in/yaml.v3 only.
//
// Reading gives typed values (flags, volumes, the etcd member a manifest
// describes). Editing changes only the bytes of the values it edits: the
// manifest an operator diffs after a restore shows one changed line, not a
// reformatted file. Values are always data: a flag value holding spaces,
// quotes, ';' or '$()' is stored and returned verbatim, never interpreted.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// StaticPod is the part of a kubeadm static pod manifest etcd-dr reads.
// Fields it does not model are kept in the file by Edit and ignored here.
type StaticPod struct {
	APIVersion        string
	Kind              string
	Name              string
	Namespace         string
	Labels            map[string]string
	Annotations       map[string]string
	Containers        []Container
	Volumes           []Volume
	HostNetwork       bool
	PriorityClassName string
	// TerminationGracePeriodSeconds is spec.terminationGracePeriodSeconds;
	// nil when the manifest sets none (kubeadm's do not): the kubelet then
	// waits 30 s between SIGTERM and SIGKILL.
	TerminationGracePeriodSeconds *int64
	// Main is the index in Containers of the component's container: the one
	// named like the pod (kubeadm names both "etcd", "kube-apiserver", ...),
	// else the first.
	Main int
	// Line is the line of the first key of the document, for messages.
	Line int
}

// Container is one container of a static pod.
type Container struct {
	Name           string        `yaml:"name"`
	Image          string        `yaml:"image"`
	Command        []string      `yaml:"command"`
	Args           []string      `yaml:"args"`
	VolumeMounts   []VolumeMount `yaml:"volumeMounts"`
	Env            []EnvVar      `yaml:"env"`
	Ports          []Port        `yaml:"ports"`
	LivenessProbe  *Probe        `yaml:"livenessProbe"`
	ReadinessProbe *Probe        `yaml:"readinessProbe"`
	StartupProbe   *Probe        `yaml:"startupProbe"`
	// Line is the line of the container in the file, for messages.
	Line int `yaml:"-"`
}

// VolumeMount places a pod volume inside a container.
type VolumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

// EnvVar is a literal environment variable; valueFrom is not used by kubeadm.
type EnvVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Port is a container port.
type Port struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

// Probe is a container probe; kubeadm uses httpGet only.
type Probe struct {
	HTTPGet             *HTTPGet `yaml:"httpGet"`
	InitialDelaySeconds int      `yaml:"initialDelaySeconds"`
	PeriodSeconds       int      `yaml:"periodSeconds"`
	TimeoutSeconds      int      `yaml:"timeoutSeconds"`
	FailureThreshold    int      `yaml:"failureThreshold"`
}

// HTTPGet is an HTTP probe. Port is a number or a named container port,
// kept as written ("2381" or "probe-port").
type HTTPGet struct {
	Host   string `yaml:"host"`
	Path   string `yaml:"path"`
	Port   string `yaml:"port"`
	Scheme string `yaml:"scheme"`
}

// Volume is a pod volume; static pods use hostPath volumes.
type Volume struct {
	Name     string          `yaml:"name"`
	HostPath *HostPathVolume `yaml:"hostPath"`
}

// HostPathVolume is a directory or file of the node.
type HostPathVolume struct {
	Path string `yaml:"path"`
	Type string `yaml:"type"`
}

// rawPod mirrors the YAML layout for decoding; StaticPod flattens it.
type rawPod struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Namespace   string            `yaml:"namespace"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Containers        []Container `yaml:"containers"`
		Volumes           []Volume    `yaml:"volumes"`
		HostNetwork       bool        `yaml:"hostNetwork"`
		PriorityClassName string      `yaml:"priorityClassName"`
		Grace             *int64      `yaml:"terminationGracePeriodSeconds"`
	} `yaml:"spec"`
}

// Parse reads one static pod manifest. Errors name the line ("line 12: ...");
// callers add the node and file.
func Parse(data []byte) (*StaticPod, error) {
	_, root, err := parseDoc(data)
	if err != nil {
		return nil, err
	}
	var raw rawPod
	if err := root.Decode(&raw); err != nil {
		return nil, cleanYAMLError(err)
	}
	if raw.Kind != "Pod" {
		return nil, fmt.Errorf("line %d: kind is %q, want Pod: this is not a static pod manifest", root.Line, raw.Kind)
	}
	p := &StaticPod{
		APIVersion: raw.APIVersion, Kind: raw.Kind, Line: root.Line,
		Name: raw.Metadata.Name, Namespace: raw.Metadata.Namespace,
		Labels: raw.Metadata.Labels, Annotations: raw.Metadata.Annotations,
		Containers: raw.Spec.Containers, Volumes: raw.Spec.Volumes,
		HostNetwork: raw.Spec.HostNetwork, PriorityClassName: raw.Spec.PriorityClassName,
		TerminationGracePeriodSeconds: raw.Spec.Grace,
	}
	seq := lookup(root, "spec", "containers")
	if seq == nil || seq.Kind != yaml.SequenceNode || len(p.Containers) == 0 {
		return nil, fmt.Errorf("line %d: pod %q has no spec.containers", root.Line, p.Name)
	}
	for i := range p.Containers {
		p.Containers[i].Line = seq.Content[i].Line
	}
	p.Main = mainIndex(p.Name, func(i int) string { return p.Containers[i].Name }, len(p.Containers))
	return p, nil
}

// mainIndex picks the component container: named like the pod, else the first.
func mainIndex(pod string, name func(int) string, n int) int {
	for i := 0; i < n; i++ {
		if name(i) == pod {
			return i
		}
	}
	return 0
}

// parseDoc parses exactly one YAML document; it returns the document node
// and its top mapping.
func parseDoc(data []byte) (doc, root *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	doc = new(yaml.Node)
	if err := dec.Decode(doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, errors.New("line 1: empty manifest: no YAML document")
		}
		return nil, nil, cleanYAMLError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, nil, fmt.Errorf("line %d: a second YAML document: a static pod manifest holds one Pod", line)
	} else if !errors.Is(err, io.EOF) {
		return nil, nil, cleanYAMLError(err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("line %d: the document is not a mapping: a static pod manifest is a Pod object", doc.Line)
	}
	return doc, doc.Content[0], nil
}

var yamlPrefix = regexp.MustCompile(`^yaml: (unmarshal errors:\s*)?`)

// cleanYAMLError turns yaml.v3's "yaml: unmarshal errors:\n  line 3: ..."
// into one line "line 3: ...", the form every error of this package takes.
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := strings.TrimSpace(te.Errors[0])
		if n := len(te.Errors); n > 1 {
			msg += fmt.Sprintf(" (and %d more)", n-1)
		}
		return errors.New(msg)
	}
	return errors.New(yamlPrefix.ReplaceAllString(strings.TrimSpace(err.Error()), ""))
}

// MainContainer returns the component's container.
func (p *StaticPod) MainContainer() *Container {
	if p.Main < 0 || p.Main >= len(p.Containers) {
		return nil
	}
	return &p.Containers[p.Main]
}

// Flag returns the value of a flag of the main container, from command and
// args together, as the component's flag parser would see it: "--name=value"
// or "--name value", single or double dash, the last occurrence winning. A
// flag present without a value (a bare boolean) returns "" and true. name
// may be given with or without its dashes.
func (p *StaticPod) Flag(name string) (string, bool) {
	c := p.MainContainer()
	if c == nil {
		return "", false
	}
	return FlagIn(append(append([]string{}, c.Command...), c.Args...), name)
}

// FlagIn finds a flag in a command line given as separate elements; see
// StaticPod.Flag. Elements after a "--" terminator are positional.
func FlagIn(argv []string, name string) (string, bool) {
	want := strings.TrimLeft(name, "-")
	if want == "" {
		return "", false
	}
	value, found := "", false
	for i := 0; i < len(argv); i++ {
		f, ok := flagAt(argv, i)
		if !ok {
			if argv[i] == "--" {
				break
			}
			continue
		}
		if f.name != want {
			continue
		}
		value, found = f.value, true
		if f.valueIdx > i {
			i = f.valueIdx
		}
	}
	return value, found
}

// flagRef locates one flag in a command line.
type flagRef struct {
	name     string
	value    string
	hasEq    bool // "--name=value" in one element
	valueIdx int  // index of the separate value element, or -1
}

// flagAt reads argv[i] as a flag. A following element not starting with "-"
// is taken as its value, as pflag does for a non-boolean flag.
func flagAt(argv []string, i int) (flagRef, bool) {
	a := argv[i]
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return flagRef{}, false
	}
	body := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
	if body == "" || body[0] == '-' || body[0] == '=' {
		return flagRef{}, false
	}
	if n, v, ok := strings.Cut(body, "="); ok {
		return flagRef{name: n, value: v, hasEq: true, valueIdx: -1}, true
	}
	if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
		return flagRef{name: body, value: argv[i+1], valueIdx: i + 1}, true
	}
	return flagRef{name: body, valueIdx: -1}, true
}

// HostPath returns the host path behind the pod volume named volume.
func (p *StaticPod) HostPath(volume string) (string, bool) {
	for _, v := range p.Volumes {
		if v.Name == volume && v.HostPath != nil {
			return v.HostPath.Path, true
		}
	}
	return "", false
}

// MountPath returns where the main container mounts the volume named volume.
func (p *StaticPod) MountPath(volume string) (string, bool) {
	c := p.MainContainer()
	if c == nil {
		return "", false
	}
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath, true
		}
	}
	return "", false
}

// lookup walks mapping keys from n; nil when a key is missing.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}
