package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readTestdata returns a committed kubeadm v1.35 manifest.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseReadsKubeadmManifests(t *testing.T) {
	tests := []struct {
		file, name, main, image string
		containerLine           int
		flag, flagValue         string
		volume, host, mount     string
	}{
		{"etcd.yaml", "etcd", "etcd", "images.corp.internal/k8s/etcd:3.6.6-0", 13,
			"--data-dir", "/var/lib/etcd", "etcd-data", "/var/lib/etcd", "/var/lib/etcd"},
		{"kube-apiserver.yaml", "kube-apiserver", "kube-apiserver", "images.corp.internal/k8s/kube-apiserver:v1.35.0", 13,
			"--etcd-servers", "https://127.0.0.1:2379", "k8s-certs", "/etc/kubernetes/pki", "/etc/kubernetes/pki"},
		{"kube-scheduler.yaml", "kube-scheduler", "kube-scheduler", "images.corp.internal/k8s/kube-scheduler:v1.35.0", 11,
			"kubeconfig", "/etc/kubernetes/scheduler.conf", "kubeconfig", "/etc/kubernetes/scheduler.conf", "/etc/kubernetes/scheduler.conf"},
		{"kube-controller-manager.yaml", "kube-controller-manager", "kube-controller-manager", "images.corp.internal/k8s/kube-controller-manager:v1.35.0", 11,
			"--controllers", "*,bootstrapsigner,tokencleaner", "flexvolume-dir", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := Parse(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c := p.MainContainer()
			if p.Name != tt.name || p.Namespace != "kube-system" || c.Name != tt.main || c.Image != tt.image {
				t.Errorf("pod %s/%s container %s image %s", p.Namespace, p.Name, c.Name, c.Image)
			}
			if c.Line != tt.containerLine {
				t.Errorf("container line = %d, want %d", c.Line, tt.containerLine)
			}
			if p.PriorityClassName != "system-node-critical" || !p.HostNetwork {
				t.Errorf("priorityClassName %q hostNetwork %v", p.PriorityClassName, p.HostNetwork)
			}
			if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Port != "probe-port" || c.LivenessProbe.FailureThreshold != 8 {
				t.Errorf("liveness probe = %+v", c.LivenessProbe)
			}
			if v, ok := p.Flag(tt.flag); !ok || v != tt.flagValue {
				t.Errorf("Flag(%q) = %q, %v; want %q", tt.flag, v, ok, tt.flagValue)
			}
			if h, ok := p.HostPath(tt.volume); !ok || h != tt.host {
				t.Errorf("HostPath(%q) = %q, %v", tt.volume, h, ok)
			}
			if m, ok := p.MountPath(tt.volume); !ok || m != tt.mount {
				t.Errorf("MountPath(%q) = %q, %v", tt.volume, m, ok)
			}
			if _, ok := p.Flag("--no-such-flag"); ok {
				t.Error("an absent flag was found")
			}
		})
	}
}

func TestFlagReadsEveryFormAComponentAccepts(t *testing.T) {
	tests := []struct {
		name  string
		argv  []string
		flag  string
		want  string
		found bool
	}{
		{"equals form", []string{"etcd", "--name=cp-1"}, "--name", "cp-1", true},
		{"separate value", []string{"etcd", "--name", "cp-1"}, "--name", "cp-1", true},
		{"single dash", []string{"etcd", "-name=cp-1"}, "name", "cp-1", true},
		{"value containing equals signs", []string{"kube-controller-manager", "--feature-gates=A=true,B=false"}, "feature-gates", "A=true,B=false", true},
		{"last occurrence wins", []string{"x", "--data-dir=/a", "--data-dir", "/b"}, "--data-dir", "/b", true},
		{"bare boolean", []string{"x", "--client-cert-auth", "--name=a"}, "--client-cert-auth", "", true},
		{"bare boolean at the end", []string{"x", "--client-cert-auth"}, "client-cert-auth", "", true},
		{"prefix of another flag is not the flag", []string{"x", "--etcd-servers-overrides=/e#https://a"}, "--etcd-servers", "", false},
		{"a value is not a flag", []string{"x", "--name", "--data-dir=/x"}, "--data-dir", "/x", true},
		{"separate value that looks like a flag name", []string{"x", "--token", "name", "--name=real"}, "name", "real", true},
		{"after -- everything is positional", []string{"x", "--", "--name=fake"}, "name", "", false},
		{"hostile value is data", []string{"x", "--name=a b'\"; $(rm -rf /)\n`id`"}, "name", "a b'\"; $(rm -rf /)\n`id`", true},
		{"empty name", []string{"x", "--=v"}, "--", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FlagIn(tt.argv, tt.flag)
			if got != tt.want || ok != tt.found {
				t.Errorf("FlagIn(%q, %q) = %q, %v; want %q, %v", tt.argv, tt.flag, got, ok, tt.want, tt.found)
			}
		})
	}
}

func TestFlagReadsCommandAndArgsTogether(t *testing.T) {
	p, err := Parse([]byte(`apiVersion: v1
kind: Pod
metadata: {name: etcd}
spec:
  containers:
  - name: sidecar
    command: [sleep, --name=wrong]
  - name: etcd
    command: [etcd]
    args: ["--name", "cp-1", '--data-dir=/var/lib/etcd']
`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Main != 1 {
		t.Fatalf("main container = %d, want the one named like the pod", p.Main)
	}
	for flag, want := range map[string]string{"name": "cp-1", "data-dir": "/var/lib/etcd"} {
		if got, _ := p.Flag(flag); got != want {
			t.Errorf("Flag(%s) = %q, want %q", flag, got, want)
		}
	}
}

func TestParseRefusesWhatIsNotAStaticPodWithItsLine(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty file", "", "line 1: empty manifest"},
		{"only a comment", "# nothing\n", "line 1: empty manifest"},
		{"a deployment", "apiVersion: apps/v1\nkind: Deployment\n", `line 1: kind is "Deployment", want Pod`},
		{"a list at the top", "- a\n- b\n", "line 1: the document is not a mapping"},
		{"two documents", "kind: Pod\n---\nkind: Pod\n", "line 3: a second YAML document"},
		{"no containers", "kind: Pod\nmetadata: {name: x}\nspec: {}\n", `pod "x" has no spec.containers`},
		{"broken indentation", "kind: Pod\nspec:\n  containers:\n  - name: a\n   command: [x]\n", "did not find expected key"},
		{"command is not a list", "kind: Pod\nspec:\n  containers:\n  - name: a\n    command: {x: 1}\n", "line 5: cannot unmarshal !!map into []string"},
		{"duplicate key", "kind: Pod\nkind: Pod\n", "line 2:"},
		{"tab indentation", "kind: Pod\nspec:\n\tcontainers: []\n", "line 3:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}
