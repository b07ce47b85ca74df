package steps

import (
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes"
)

func TestTheMembersEtcdVersionIsReadFromTheImageTagOrTheUnitsBinary(t *testing.T) {
	tags := map[string]string{
		"registry.k8s.io/etcd:3.6.6-0":                         "3.6.6-0",
		"registry.local:5000/etcd:3.7.3-0":                     "3.7.3-0",
		"registry.k8s.io/etcd:3.6.6-0@sha256:0123456789abcdef": "3.6.6-0",
		"registry.local:5000/etcd":                             "",
		"etcd":                                                 "",
	}
	for in, want := range tags {
		if got := imageTag(in); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", in, got, want)
		}
	}
	exec := "{ path=/usr/local/bin/etcd ; argv[]=/usr/local/bin/etcd ; ignore_errors=no ; start_time=[n/a] }"
	if m := execPathRe.FindStringSubmatch(exec); m == nil || m[1] != "/usr/local/bin/etcd" {
		t.Errorf("ExecStart %q gave %v, want /usr/local/bin/etcd", exec, m)
	}
}

func TestAToolCountsOnlyWhenItRanAndSaidItsOwnVersion(t *testing.T) {
	tests := []struct {
		name, tool string
		res        nodes.Result
		want       string
	}{
		{"etcdutl 3.6.6", "etcdutl", nodes.Result{Stdout: "etcdutl version: 3.6.6\nAPI version: 3.6\n"}, "3.6.6"},
		{"etcdctl 3.7.3", "etcdctl", nodes.Result{Stdout: "etcdctl version: 3.7.3\nAPI version: 3.7\n"}, "3.7.3"},
		{"sudo's secure_path hides it", "etcdutl", nodes.Result{ExitCode: 1, Stderr: "sudo: etcdutl: command not found\n"}, ""},
		{"another tool answering", "etcdutl", nodes.Result{Stdout: "etcdctl version: 3.6.6\n"}, ""},
		{"a binary of another architecture", "etcdutl", nodes.Result{ExitCode: 126, Stderr: "cannot execute binary file: Exec format error"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseToolVersion(tt.tool, tt.res)
			got := ""
			if err == nil {
				got = v.String()
			}
			if got != tt.want {
				t.Fatalf("parseToolVersion = %v, %v; want %q", v, err, tt.want)
			}
		})
	}
}
