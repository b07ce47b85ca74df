package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

func TestPointingAKubeadmEtcdManifestAtTheNewDataDirKeepsTheRest(t *testing.T) {
	for _, scenario := range []string{"stacked", "moved"} {
		t.Run(scenario, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(manifestsDir, scenario, "cp-2", "etcd.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			c := oneNode(t, "run-1", "a@b")
			edited, err := c.pointDataDir(data, "/var/lib/etcd-restored-20261124T030000Z")
			if err != nil {
				t.Fatal(err)
			}
			p, err := manifest.Parse(edited)
			if err != nil {
				t.Fatal(err)
			}
			if hp, _ := p.HostPath("etcd-data"); hp != "/var/lib/etcd-restored-20261124T030000Z" {
				t.Errorf("etcd-data hostPath = %s", hp)
			}
			if dd, _ := p.Flag("data-dir"); dd != "/var/lib/etcd" {
				t.Errorf("--data-dir = %s, want the in-pod mount /var/lib/etcd unchanged", dd)
			}
			// Only the hostPath line differs.
			a, b := strings.Split(string(data), "\n"), strings.Split(string(edited), "\n")
			if len(a) != len(b) {
				t.Fatalf("edit changed the line count %d -> %d", len(a), len(b))
			}
			var changed int
			for i := range a {
				if a[i] != b[i] {
					changed++
				}
			}
			if changed != 1 {
				t.Errorf("edit changed %d lines, want 1", changed)
			}
		})
	}
}

// Step 3 over real files: the parked apiserver manifest of the "moved"
// scenario is rewritten, backed up, and verified by reading it back.
func TestRepointRewritesTheParkedApiserverManifest(t *testing.T) {
	api, err := os.ReadFile(filepath.Join(manifestsDir, "moved", "cp-1", "kube-apiserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := dirs(t, nil, map[string]string{"kube-apiserver.yaml": string(api)})
	cl := scenarioCluster("moved")
	v := afterPreflight(t, "moved", cl)
	c.Values.Members, c.Values.Apiservers = v.Members, v.Apiservers[:1] // cp-1 only: one park dir on this machine
	step := RepointApiserversStep()
	ctx := context.Background()
	if err := step.Verify(ctx, c); err == nil {
		t.Fatal("verify passed before the rewrite")
	}
	if err := step.Run(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := step.Verify(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := step.Run(ctx, c); err != nil { // idempotent: a resume runs it again
		t.Fatal(err)
	}
	parked := filepath.Join(c.Cluster.Etcd.ParkDir, "kube-apiserver.yaml")
	got, _ := os.ReadFile(parked)
	bak, _ := os.ReadFile(parked + ".etcd-dr-backup-run-1")
	if !strings.Contains(string(got), "--etcd-servers=https://10.0.1.21:12379,https://10.0.1.22:12379,https://10.0.1.23:12379") {
		t.Errorf("parked manifest not repointed:\n%s", got)
	}
	if string(bak) != string(api) {
		t.Error("the backup is not the original manifest")
	}
}
