package steps

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/plans")

// manifestsDir holds kubeadm v1.35 manifests, one directory per scenario
// and node (see testdata/manifests/README.md).
const manifestsDir = "../testdata/manifests"

func scenarioCluster(scenario string) *config.Cluster {
	addr := map[string][]string{
		"stacked": {"10.0.0.11", "10.0.0.12", "10.0.0.13"},
		"moved":   {"10.0.1.21", "10.0.1.22", "10.0.1.23"},
	}[scenario]
	cl := &config.Cluster{
		Name:     "prod-eu1",
		Snapshot: config.Snapshot{Path: "/backups/etcd/snap.db", On: config.SnapshotOnBastion},
		SSH:      config.SSH{User: "ops", Sudo: true, Concurrency: 32},
		Etcd: config.Etcd{Mode: config.EtcdModeStaticPod, ManifestsDir: "/etc/kubernetes/manifests",
			ParkDir: "/etc/kubernetes/parked", RestoredDataDir: "/var/lib/etcd-restored-{{.Time}}",
			BumpRevision: "auto", MarkCompacted: true},
	}
	for i, a := range addr {
		cl.Nodes = append(cl.Nodes, config.Node{Name: "cp-" + string(rune('1'+i)), Address: a,
			Roles: []string{config.RoleControlPlane, config.RoleEtcd}})
	}
	cl.Nodes = append(cl.Nodes, config.Node{Name: "w-1", Address: "10.0.2.31", Roles: []string{config.RoleWorker}})
	return cl
}

// inventory reads the scenario's manifests the way preflight does.
func inventory(t *testing.T, scenario string, cl *config.Cluster) ([]Member, []Apiserver) {
	t.Helper()
	var ms []Member
	var as []Apiserver
	for _, n := range cl.NodesWith(config.RoleControlPlane) {
		dir := filepath.Join(manifestsDir, scenario, n.Name)
		etcd, err := os.ReadFile(filepath.Join(dir, "etcd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := MemberFromManifest(n.Name, cl.Etcd.Mode, etcd)
		if err != nil {
			t.Fatalf("%s/etcd.yaml: %v", dir, err)
		}
		api, err := os.ReadFile(filepath.Join(dir, "kube-apiserver.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		a, err := ApiserverFromManifest(n.Name, api)
		if err != nil {
			t.Fatalf("%s/kube-apiserver.yaml: %v", dir, err)
		}
		ms, as = append(ms, m), append(as, a)
	}
	if err := CheckMembers(ms); err != nil {
		t.Fatalf("%s: %v", scenario, err)
	}
	return ms, as
}

// afterPreflight is what preflight would have decided, fixed for goldens.
func afterPreflight(t *testing.T, scenario string, cl *config.Cluster) Values {
	t.Helper()
	at := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	v := Values{Run: "20261124T030000Z-a1b2c3", Who: "ops@bastion", StartedAt: at,
		SnapshotSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", SnapshotRevision: 48210,
		SnapshotSize: 24 << 20, LiveRevision: 51210}
	v.Members, v.Apiservers = inventory(t, scenario, cl)
	var err error
	if v.DataDir, err = RenderDataDir(cl.Etcd.RestoredDataDir, at); err != nil {
		t.Fatal(err)
	}
	v.Token = "etcd-dr-" + v.Run
	if v.Bump, err = ComputeBump(cl.Etcd.BumpRevision, v.LiveRevision, v.SnapshotRevision); err != nil {
		t.Fatal(err)
	}
	c := &Context{Cluster: cl, Values: v}
	v.SnapshotMemberCopy = c.memberCopyPath()
	return v
}

func TestPlansMatchTheirGoldenFiles(t *testing.T) {
	for _, tc := range []struct {
		name, scenario string
		preflight      bool
		on             string // snapshot.on: a node, or "" for the bastion
		from           string // snapshot.from
	}{
		{"before preflight every undecided value is a marked placeholder", "stacked", false, "", ""},
		{"after preflight on a kubeadm stacked cluster nothing is repointed", "stacked", true, "", ""},
		{"after preflight on renamed members with new IPs and ports step 3 shows a diff", "moved", true, "", ""},
		{"a snapshot on cp-2 is read to the bastion, used in place on cp-2 and copied to the others", "stacked", true, "cp-2", ""},
		{"a snapshot from the best member shows the member ranking and the source as placeholders", "stacked", false, "", "best-member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := scenarioCluster(tc.scenario)
			if tc.on != "" {
				cl.Snapshot = config.Snapshot{Path: "/var/backups/etcd/snap.db", On: tc.on}
				cl.State.Dir = "/home/ops/.local/state/etcd-dr"
			}
			if tc.from != "" {
				cl.Snapshot = config.Snapshot{From: tc.from, On: config.SnapshotOnBastion}
				cl.State.Dir = "/home/ops/.local/state/etcd-dr"
			}
			var v Values
			if tc.preflight {
				v = afterPreflight(t, tc.scenario, cl)
			}
			got, err := PlanText(cl, v)
			if err != nil {
				t.Fatal(err)
			}
			name := tc.scenario + map[bool]string{false: "-before-preflight", true: "-after-preflight"}[tc.preflight]
			if tc.on != "" {
				name += "-snapshot-on-" + tc.on
			}
			if tc.from != "" {
				name += "-from-" + tc.from
			}
			name += ".golden"
			golden(t, filepath.Join("testdata", "plans", name), got)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./steps -run Golden -update)", err)
	}
	if string(want) != got {
		t.Errorf("plan differs from %s (rerun with -update if the change is intended):\n%s", path, got)
	}
}

func TestPlansStateTheFactsTheOperatorMustSee(t *testing.T) {
	for _, tc := range []struct {
		name, scenario string
		want, notWant  []string
	}{
		{"a stacked cluster keeps the loopback etcd-servers", "stacked",
			[]string{"nothing to change", "--bump-revision 4600", "--mark-compacted",
				"--initial-cluster cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380"},
			[]string{"<NEW_DATA_DIR", "+ https://"}},
		{"renamed members on new IPs get a rewritten etcd-servers", "moved",
			[]string{"- https://10.0.0.11:12379,https://10.0.0.12:12379,https://10.0.0.13:12379",
				"+ https://10.0.1.21:12379,https://10.0.1.22:12379,https://10.0.1.23:12379",
				"--name etcd-b", "--initial-advertise-peer-urls https://10.0.1.22:12380", "data dir /data/etcd stays"},
			[]string{"nothing to change"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := scenarioCluster(tc.scenario)
			got, err := PlanText(cl, afterPreflight(t, tc.scenario, cl))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("plan lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("plan has %q", w)
				}
			}
		})
	}
}
