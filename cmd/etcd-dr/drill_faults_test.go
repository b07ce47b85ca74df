package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

func TestFaultSpecsReadAsNameStepAndNode(t *testing.T) {
	tests := []struct {
		name, in string
		want     []faultSpec
		bad      bool
	}{
		{"a bare name applies at once on the default node", "disk-full", []faultSpec{{Name: "disk-full"}}, false},
		{"@step scopes it to a step", "sshd-frozen@restore-etcd", []faultSpec{{Name: "sshd-frozen", Step: steps.RestoreEtcd}}, false},
		{"@node names the node, in either order with a step", "sshd-stopped@w-1@flush-caches,sudo-password@cp-3",
			[]faultSpec{{Name: "sshd-stopped", Step: steps.FlushCaches, Node: "w-1"}, {Name: "sudo-password", Node: "cp-3"}}, false},
		{"an unknown fault is a usage error", "gremlins", nil, true},
		{"two steps are a usage error", "sshd-frozen@restore-etcd@flush-caches", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFaults([]string{tc.in})
			if tc.bad != (err != nil) {
				t.Fatalf("parseFaults(%q) = %v, %v", tc.in, got, err)
			}
			if !tc.bad && (len(got) != len(tc.want) || got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1]) {
				t.Errorf("parseFaults(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestFaultListHasOneLinePerRegisteredFault(t *testing.T) {
	var b bytes.Buffer
	if code := run([]string{"drill", "--fault", "list"}, &b, &b); code != 0 {
		t.Fatalf("drill --fault list exited %d: %s", code, b.String())
	}
	for _, f := range lab.Faults() {
		if n := strings.Count(b.String(), "\n"+f.Name+" ") + strings.Count("\n"+b.String()[:len(f.Name)+1], "\n"+f.Name+" "); n != 1 {
			t.Errorf("fault %s listed %d times:\n%s", f.Name, n, b.String())
		}
	}
}
