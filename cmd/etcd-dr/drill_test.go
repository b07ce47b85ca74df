package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// This package's labs use blocks 40–49 of 127.B.x.y: go test runs
// packages in parallel, and nodes/lab's tests use blocks 0–3.

// The whole procedure, headless, on a fresh lab of real etcd members and
// kube-apiservers, in both ways clusters run etcd in the field: every step
// verified by the engine, then every safety invariant confirmed
// independently by lab verify (which fails before any restore: nodes/lab
// tests prove that).
func TestDrillHeadlessRestoresTheLabAndEveryInvariantHolds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		args  []string
		// kubeadm says whether the scorecard must warn that kubeadm-config
		// still names the old data dir (kubeadm clusters only).
		kubeadm bool
	}{
		{"kubeadm stacked etcd as static pods", "40", nil, true},
		{"external etcd nodes run by systemd", "41", []string{"--topology", "external", "--etcd-mode", "systemd"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "lab")
			t.Cleanup(func() {
				if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
					t.Errorf("lab down: %v", err)
				}
			})
			var out, errb bytes.Buffer
			args := append([]string{"drill", "--headless", "--dir", dir, "--block", tc.block, "--workers", "1"}, tc.args...)
			if code := run(args, &out, &errb); code != exitOK {
				t.Fatalf("drill exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, &out, tail(errb.String(), 60))
			}
			text := out.String()
			for _, want := range []string{
				"flush-caches         done",
				"verify               done",
				"ok    no-restore-while-apiserver-ran",
				"ok    old-data-dirs-untouched",
				"ok    seed-served-post-snapshot-gone",
				"ok    scheduler-controller-manager-kubelets-restarted-after-restore",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("scorecard lacks %q:\n%s", want, text)
				}
			}
			if got := strings.Contains(text, "KUBEADM RECORD STALE"); got != tc.kubeadm {
				t.Errorf("scorecard warns of kubeadm-config's stale dataDir: %v, want %v:\n%s", got, tc.kubeadm, text)
			}
			if err := lab.Leftovers(dir); err != nil {
				t.Errorf("after the drill: %v", err)
			}
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
