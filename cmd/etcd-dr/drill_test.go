package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// This package's labs use blocks 40–49 of 127.B.x.y: go test runs
// packages in parallel, and nodes/lab's tests use blocks 0–3.

// The whole procedure, headless, on a fresh lab of real etcd members and
// kube-apiservers, in both ways clusters run etcd in the field and on both
// etcd minor versions: kubeadm's (etcd 3.6.6 in its image, no etcd tools on
// the host) and kubespray-like hosts running 3.7.3 whose /usr/local/bin tools
// the RHEL-like sudo does not find. Every step verified by the engine, every
// restore run with the etcdutl the bastion brought, then every safety
// invariant confirmed independently by lab verify (which fails before any
// restore: nodes/lab tests prove that).
func TestDrillHeadlessRestoresTheLabAndEveryInvariantHolds(t *testing.T) {
	t.Parallel() // the subtests' labs run beside the other tests'
	for _, tc := range []struct {
		name  string
		block string
		args  []string
		// kubeadm says whether the scorecard must warn that kubeadm-config
		// still names the old data dir (kubeadm clusters only).
		kubeadm bool
	}{
		{"kubeadm stacked etcd 3.6.6 as static pods", "40", nil, true},
		{"external etcd 3.7.3 nodes run by systemd, as one JSON document", "41", []string{"--topology", "external", "--etcd-mode", "systemd",
			"--etcd-version", "3.7.3", "--host-etcd-tools", "-o", "json"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.Block(t, mustAtoi(t, tc.block))
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
			if slices.Contains(tc.args, "json") {
				text = drillJSONAsText(t, out.Bytes())
			}
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
			requireRestoredWithBroughtEtcdutl(t, dir)
		})
	}
}

// drillJSONAsText parses `drill -o json` stdout as ONE document (a CI job
// must be able to) and renders the lines the text assertions look for.
func drillJSONAsText(t *testing.T, out []byte) string {
	t.Helper()
	var doc struct {
		Steps []struct {
			Step  string `json:"step"`
			State string `json:"state"`
		} `json:"steps"`
		Invariants *lab.Report `json:"invariants"`
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("drill -o json stdout is not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("drill -o json printed more than one document:\n%s", out)
	}
	if doc.Invariants == nil {
		t.Fatalf("drill -o json has no invariants:\n%s", out)
	}
	var b strings.Builder
	for _, st := range doc.Steps {
		fmt.Fprintf(&b, "%-20s %s\n", st.Step, st.State)
	}
	for _, ch := range doc.Invariants.Checks {
		if ch.OK {
			fmt.Fprintf(&b, "ok    %s\n", ch.Name)
		}
	}
	return b.String()
}

// mustAtoi is a table's block number as an int.
func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// requireRestoredWithBroughtEtcdutl: every member was restored, each by the
// etcdutl preflight brought into the run's tools dir (no node of the lab
// has one sudo finds).
func requireRestoredWithBroughtEtcdutl(t *testing.T, dir string) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	restored := 0
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && strings.Contains(e.Command, "snapshot restore") {
			restored++
			if !strings.Contains(e.Command, " /var/lib/etcd-dr/tools/") || !strings.Contains(e.Command, "/etcdutl snapshot restore") {
				t.Errorf("%s restored without the brought etcdutl: %s", e.Node, e.Command)
			}
		}
	}
	if restored != 3 {
		t.Errorf("%d restore commands, want 3 (one per member)", restored)
	}
}
