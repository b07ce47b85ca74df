package lab

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestEnsureRealBinaries builds (or finds cached) kubeadm and kubelet and
// checks that each reports the pinned release: an unstamped build says
// v0.0.0-master, and kubeadm derives the images it names from its version.
func TestEnsureRealBinaries(t *testing.T) {
	// A cold build of kubelet and kubeadm takes minutes on a shared 2-core
	// machine; the deadline only bounds a hung build.
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	rb, err := EnsureRealBinaries(ctx, "", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		args []string
	}{
		{"kubeadm", rb.Kubeadm, []string{"version", "-o", "short"}},
		{"kubelet", rb.Kubelet, []string{"--version"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.CommandContext(ctx, tc.path, tc.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.path, tc.args, err, out)
			}
			if !strings.Contains(string(out), KubeVersion) {
				t.Fatalf("%s reports %q, want %s", tc.name, strings.TrimSpace(string(out)), KubeVersion)
			}
		})
	}
}
