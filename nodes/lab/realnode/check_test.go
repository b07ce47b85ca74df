package realnode_test

import (
	"strings"
	"testing"

	. "github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// TestCheckRefusesAMachineWithoutTheTools: with the tools off PATH, Check
// names the first missing one and what installs it, before anything is
// created; on this machine (root, tools installed, cgroups mounted) it passes.
func TestCheckRefusesAMachineWithoutTheTools(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"this machine", "", ""},
		{"no tools", "/nonexistent", "needs ip on PATH"},
		{"iproute2 only", "/usr/sbin:/sbin", "needs nsenter on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			err := Check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check on this machine: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
