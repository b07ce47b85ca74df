package lab

import (
	"slices"
	"testing"
)

func TestParseSystemctlReadsWhatTheRunbookSends(t *testing.T) {
	tests := []struct {
		args []string
		want systemctlArgs
	}{
		{[]string{"restart", "kubelet"}, systemctlArgs{verb: "restart", unit: "kubelet"}},
		{[]string{"show", "kubelet.service", "--property=InvocationID", "--value"},
			systemctlArgs{verb: "show", unit: "kubelet", props: []string{"InvocationID"}, valueOnly: true}},
		{[]string{"show", "-p", "ActiveState,SubState", "etcd"},
			systemctlArgs{verb: "show", unit: "etcd", props: []string{"ActiveState", "SubState"}}},
		{[]string{"start", "--no-block", "etcd"}, systemctlArgs{verb: "start", unit: "etcd", noBlock: true}},
		{[]string{"--quiet", "is-active", "kubelet"}, systemctlArgs{verb: "is-active", unit: "kubelet"}},
	}
	for _, tt := range tests {
		got := parseSystemctl(tt.args)
		if got.verb != tt.want.verb || got.unit != tt.want.unit || !slices.Equal(got.props, tt.want.props) ||
			got.valueOnly != tt.want.valueOnly || got.noBlock != tt.want.noBlock {
			t.Errorf("parseSystemctl(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}
