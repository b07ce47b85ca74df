package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

func podYAML(name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: kube-system\nspec:\n  containers:\n  - name: %s\n    image: x\n", name, name)
}

func TestDuplicatePodNamesInTheManifestsDirAreFound(t *testing.T) {
	parked := []string{"etcd.yaml", "kube-apiserver.yaml"}
	tests := []struct {
		name  string
		files map[string]string
		want  []string // offending files
	}{
		{"a clean kubeadm dir has none", map[string]string{"etcd.yaml": podYAML("etcd"), "kube-apiserver.yaml": podYAML("kube-apiserver")}, nil},
		{"an etcd.yaml.bak naming pod etcd is found", map[string]string{"etcd.yaml": podYAML("etcd"), "etcd.yaml.bak": podYAML("etcd")}, []string{"etcd.yaml.bak"}},
		{"any file name counts, not only .bak", map[string]string{"kube-apiserver.yaml": podYAML("kube-apiserver"), "old-api": podYAML("kube-apiserver")}, []string{"old-api"}},
		{"a file naming another pod is fine", map[string]string{"etcd.yaml": podYAML("etcd"), "etcd-backup.yaml": podYAML("etcd-backup")}, nil},
		{"a file that is no pod manifest is ignored, as the kubelet ignores it", map[string]string{"etcd.yaml": podYAML("etcd"), "README": "not yaml: [\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range duplicatePods("cp-1", "/etc/kubernetes/manifests", parked, tt.files) {
				got = append(got, d.File)
				if !strings.Contains(d.Error(), "cp-1") || !strings.Contains(d.Error(), "/etc/kubernetes/manifests/"+d.File) {
					t.Errorf("message does not name the node and file: %s", d.Error())
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("found %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTheManifestsDumpSplitsBackIntoFiles(t *testing.T) {
	out := manifestsMark + " etcd.yaml\n" + podYAML("etcd") + "\n" + manifestsMark + " etcd.yaml.bak\n" + podYAML("etcd") + "\n"
	files := splitManifests(out)
	if len(files) != 2 || !strings.Contains(files["etcd.yaml.bak"], "name: etcd") {
		t.Fatalf("split into %d files: %q", len(files), files)
	}
}

func TestAParkedPodThatNeverStopsNamesTheCausesAndTheFallback(t *testing.T) {
	c := &Context{}
	c.Cluster = testCluster(t.TempDir())
	err := c.parkedPodGone("cp-2", "kube-apiserver", fmt.Errorf("kube-apiserver stopped on cp-2: not true after 2m: %w",
		&StillRunning{Node: "cp-2", Process: "kube-apiserver", PIDs: []string{"42"}}))
	var p *ParkedPodStillRuns
	if !errors.As(err, &p) {
		t.Fatalf("error %v is no ParkedPodStillRuns", err)
	}
	for _, want := range []string{"cp-2", "sources aren't ready", "crictl stop", "declares pod name \"kube-apiserver\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %s", want, err)
		}
	}
	if other := c.parkedPodGone("cp-2", "kube-apiserver", errors.New("something listens on :6443")); errors.As(other, &p) {
		t.Errorf("a listener left behind is not a pod the kubelet kept: %v", other)
	}
}

func TestTheScorecardWarnsThatKubeadmConfigStillNamesTheOldDataDir(t *testing.T) {
	restored := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		mode     string
		at       time.Time
		oldDir   string
		wantWarn bool
	}{
		{"a static-pod restore into a new dir warns", config.EtcdModeStaticPod, restored, "/var/lib/etcd", true},
		{"before step 2 restored anything there is nothing to warn of", config.EtcdModeStaticPod, time.Time{}, "/var/lib/etcd", false},
		{"systemd clusters have no kubeadm record", config.EtcdModeSystemd, restored, "/var/lib/etcd", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Context{Cluster: testCluster(t.TempDir())}
			c.Cluster.Etcd.Mode = tt.mode
			c.Values.RestoredAt, c.Values.DataDir = tt.at, "/var/lib/etcd-restored-1"
			c.Values.Members = []Member{{Node: "cp-1", DataDir: tt.oldDir}, {Node: "cp-2", DataDir: tt.oldDir}}
			k := c.kubeadmDataDir()
			if (k != nil) != tt.wantWarn {
				t.Fatalf("warning %+v, want one: %v", k, tt.wantWarn)
			}
			if k == nil {
				return
			}
			if !slices.Equal(k.Old, []string{"/var/lib/etcd"}) || k.New != "/var/lib/etcd-restored-1" ||
				!strings.Contains(k.Fix, "etcd.local.dataDir: /var/lib/etcd-restored-1") || !strings.Contains(k.Fix, "kubeadm-config") {
				t.Fatalf("warning %+v lacks the old dir, the new one or the exact fix", k)
			}
		})
	}
}
