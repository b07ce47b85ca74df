package lab

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// labBinaries builds (first use) or finds the lab's binaries; CI starts cold,
// so this is where the minutes-long build happens.
func labBinaries(t *testing.T) Binaries {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	b, err := EnsureBinaries(ctx, "", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEnsureBinariesGivesRunnableBinariesOfThePinnedVersions(t *testing.T) {
	b := labBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a cold build on 2 cores
	defer cancel()
	b37, err := EnsureEtcdTools(ctx, "3.7.3", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"etcd reports the default etcd version, kubeadm v1.35's", []string{b.Etcd, "--version"}, "etcd Version: 3.6.6"},
		{"etcdutl reports the default etcd version", []string{b.Etcdutl, "version"}, "etcdutl version: 3.6.6"},
		{"etcdctl reports the default etcd version", []string{b.Etcdctl, "version"}, "etcdctl version: 3.6.6"},
		{"the 3.7.3 etcdutl reports 3.7.3", []string{b37.Etcdutl, "version"}, "etcdutl version: 3.7.3"},
		{"the 3.7.3 etcdctl reports 3.7.3", []string{b37.Etcdctl, "version"}, "etcdctl version: 3.7.3"},
		{"kube-apiserver reports the pinned Kubernetes version", []string{b.KubeApiserver, "--version"}, "Kubernetes v1.35.4"},
		{"kube-scheduler reports the pinned Kubernetes version", []string{b.KubeScheduler, "--version"}, "Kubernetes v1.35.4"},
		{"kube-controller-manager reports the pinned Kubernetes version", []string{b.KubeControllerManager, "--version"}, "Kubernetes v1.35.4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(tt.argv[0], tt.argv[1:]...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.argv, err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("%v printed %q, want %q", tt.argv, out, tt.want)
			}
		})
	}
}

func TestEnsureBinariesIsInstantWhenCached(t *testing.T) {
	labBinaries(t)
	start := time.Now()
	var lines []string
	if _, err := EnsureBinaries(context.Background(), "", func(s string) { lines = append(lines, s) }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second || len(lines) > 0 {
		t.Fatalf("a cached EnsureBinaries took %s and said %q; want no build", d, lines)
	}
}
