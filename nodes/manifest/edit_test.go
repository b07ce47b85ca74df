package manifest

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// lineDiff lists the lines that differ between two versions of a file, as
// "-old" and "+new", for files whose edits never add or drop a line, and
// "+new" alone for appended lines.
func lineDiff(t *testing.T, before, after []byte) []string {
	t.Helper()
	a := strings.SplitAfter(string(before), "\n")
	b := strings.SplitAfter(string(after), "\n")
	var out []string
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			i, j = i+1, j+1
		case i+1 < len(a) && a[i+1] == b[j]: // a line was removed
			out = append(out, "-"+strings.TrimRight(a[i], "\r\n"))
			i++
		case j+1 < len(b) && a[i] == b[j+1]: // a line was inserted
			out = append(out, "+"+strings.TrimRight(b[j], "\r\n"))
			j++
		default:
			out = append(out, "-"+strings.TrimRight(a[i], "\r\n"), "+"+strings.TrimRight(b[j], "\r\n"))
			i, j = i+1, j+1
		}
	}
	for ; i < len(a); i++ {
		out = append(out, "-"+strings.TrimRight(a[i], "\r\n"))
	}
	for ; j < len(b); j++ {
		out = append(out, "+"+strings.TrimRight(b[j], "\r\n"))
	}
	return out
}

func TestEditChangesOnlyTheEditedValue(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		changes []Change
		want    []string
	}{
		{"repointing the apiserver at new etcd members", "kube-apiserver.yaml",
			[]Change{SetFlag("--etcd-servers", "https://10.0.1.11:2379,https://10.0.1.12:2379")},
			[]string{"-    - --etcd-servers=https://127.0.0.1:2379", "+    - --etcd-servers=https://10.0.1.11:2379,https://10.0.1.12:2379"}},
		{"pointing etcd's data volume at the restored dir", "etcd.yaml",
			[]Change{SetHostPath("etcd-data", "/var/lib/etcd-restored-20261124T1500Z")},
			[]string{"-      path: /var/lib/etcd", "+      path: /var/lib/etcd-restored-20261124T1500Z"}},
		{"a new cluster token is appended after the last flag", "etcd.yaml",
			[]Change{SetFlag("initial-cluster-token", "etcd-dr-20261124")},
			[]string{"+    - --initial-cluster-token=etcd-dr-20261124"}},
		{"two edits at once", "etcd.yaml",
			[]Change{SetFlag("initial-cluster-state", "new"), SetHostPath("etcd-data", "/var/lib/etcd-new")},
			[]string{"-    - --initial-cluster-state=existing", "+    - --initial-cluster-state=new",
				"-      path: /var/lib/etcd", "+      path: /var/lib/etcd-new"}},
		{"a value that YAML would read as a boolean is quoted", "kube-scheduler.yaml",
			[]Change{SetHostPath("kubeconfig", "/etc/kubernetes/a: b")},
			[]string{"-      path: /etc/kubernetes/scheduler.conf", "+      path: '/etc/kubernetes/a: b'"}},
		{"a hostile value is written as data", "kube-apiserver.yaml",
			[]Change{SetFlag("etcd-servers", "x'; $(rm -rf /) #\n`id`")},
			[]string{"-    - --etcd-servers=https://127.0.0.1:2379", `+    - "--etcd-servers=x'; $(rm -rf /) #\n` + "`id`\""}},
		{"setting the current value changes nothing", "etcd.yaml",
			[]Change{SetFlag("--name", "cp-2")}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readTestdata(t, tt.file)
			after, err := Edit(before, tt.changes...)
			if err != nil {
				t.Fatal(err)
			}
			if got := lineDiff(t, before, after); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestEditKeepsHandWrittenLayout(t *testing.T) {
	const before = "# managed by kubeadm; hand-tuned by SRE\r\n" +
		"apiVersion: v1\r\n" +
		"kind: Pod\r\n" +
		"metadata: {name: kube-apiserver, namespace: kube-system}\r\n" +
		"spec:\r\n" +
		"  containers:\r\n" +
		"    - name: kube-apiserver\r\n" +
		"      command:\r\n" +
		"        - kube-apiserver\r\n" +
		"        - \"--etcd-servers=https://127.0.0.1:2379\"   # local member\r\n" +
		"        - --etcd-prefix\r\n" +
		"        - '/registry'\r\n" +
		"      image: kube-apiserver:v1.35.0   # pinned\r\n"
	tests := []struct {
		name   string
		change Change
		want   []string
	}{
		{"a double-quoted value stays double-quoted, its comment kept", SetFlag("etcd-servers", "https://10.0.0.11:2379"),
			[]string{"-        - \"--etcd-servers=https://127.0.0.1:2379\"   # local member",
				"+        - \"--etcd-servers=https://10.0.0.11:2379\"   # local member"}},
		{"a separate single-quoted value stays single-quoted", SetFlag("etcd-prefix", "/registry-restored"),
			[]string{"-        - '/registry'", "+        - '/registry-restored'"}},
		{"an appended flag keeps the list's indentation and CRLF", SetFlag("etcd-compaction-interval", "0"),
			[]string{"+        - --etcd-compaction-interval=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after, err := Edit([]byte(before), tt.change)
			if err != nil {
				t.Fatal(err)
			}
			if got := lineDiff(t, []byte(before), after); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Count(string(after), "\n") != strings.Count(string(after), "\r\n") {
				t.Errorf("line endings mixed:\n%q", after)
			}
		})
	}
}

func TestEditRoundTripsHostileValues(t *testing.T) {
	values := []string{
		"plain", "with space", "it's", `say "hi"`, "a;b", "$(reboot)", "`id`", "new\nline", "tab\there",
		"#comment", "trailing ", " leading", "true", "1e9", "null", "~", "- dash", "a: b", "{x}", "[1]",
		"&anchor", "*alias", "!tag", "%x", "@x", "|", ">", "é ü 日本", "\x00\x07", "",
	}
	base := readTestdata(t, "etcd.yaml")
	for _, v := range values {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			out, err := Edit(base, SetFlag("--name", v), SetHostPath("etcd-data", "/var/lib/"+v))
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(out)
			if err != nil {
				t.Fatalf("edited manifest does not parse: %v\n%s", err, out)
			}
			if got, _ := p.Flag("name"); got != v {
				t.Errorf("--name read back as %q", got)
			}
			if got, _ := p.HostPath("etcd-data"); got != "/var/lib/"+v {
				t.Errorf("hostPath read back as %q", got)
			}
			if d := lineDiff(t, base, out); len(d) != 4 {
				t.Errorf("more than the two edited lines changed:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

func TestEditFallsBackToReencodingForLayoutsItCannotSplice(t *testing.T) {
	const before = `# top comment
kind: Pod
metadata: {name: etcd}
spec:
  containers:
  - name: etcd
    command: [etcd, --name=a, --data-dir=/var/lib/etcd]   # flow list
  volumes:
  - name: etcd-data
    hostPath: {path: /var/lib/etcd}
`
	after, err := Edit([]byte(before), SetFlag("name", "b, c"), SetFlag("new-flag", "x"), SetHostPath("etcd-data", "/d"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse(after)
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]string{"name": "b, c", "new-flag": "x", "data-dir": "/var/lib/etcd"} {
		if got, _ := p.Flag(flag); got != want {
			t.Errorf("Flag(%s) = %q, want %q", flag, got, want)
		}
	}
	if h, _ := p.HostPath("etcd-data"); h != "/d" {
		t.Errorf("hostPath = %q", h)
	}
	if !strings.Contains(string(after), "# top comment") || !strings.Contains(string(after), "# flow list") {
		t.Errorf("comments lost:\n%s", after)
	}
}

func TestEditRefusesWithAReason(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		change Change
		want   string
	}{
		{"a volume that does not exist", "kind: Pod\nspec:\n  containers: [{name: a}]\n  volumes: []\n",
			SetHostPath("etcd-data", "/x"), `no volume "etcd-data" in spec.volumes`},
		{"a volume that is not a hostPath", "kind: Pod\nspec:\n  volumes:\n  - name: d\n    emptyDir: {}\n",
			SetHostPath("d", "/x"), `line 4: volume "d" is not a hostPath volume`},
		{"a relative host path", "kind: Pod\n", SetHostPath("d", "var/lib"), "not an absolute path"},
		{"a flag name with a space", "kind: Pod\n", SetFlag("--a b", "x"), "not a flag name"},
		{"a container without command or args", "kind: Pod\nspec:\n  containers:\n  - name: a\n",
			SetFlag("x", "y"), "no command or args"},
		{"a pod without containers", "kind: Pod\n", SetFlag("x", "y"), "no spec.containers"},
		{"a broken file", "kind: [\n", SetFlag("x", "y"), "line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Edit([]byte(tt.data), tt.change)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Edit() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEditAcceptsCustomChanges(t *testing.T) {
	before := readTestdata(t, "etcd.yaml")
	setImage := func(pod *yaml.Node) error {
		c, err := mainContainerNode(pod)
		if err != nil {
			return err
		}
		lookup(c, "image").Value = "images.corp.internal/k8s/etcd:3.6.7-0"
		return nil
	}
	after, err := Edit(before, setImage)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-    image: images.corp.internal/k8s/etcd:3.6.6-0", "+    image: images.corp.internal/k8s/etcd:3.6.7-0"}
	if got := lineDiff(t, before, after); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("diff = %q", got)
	}
}
