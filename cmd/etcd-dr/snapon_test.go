package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// Issue 5's snapshot that lies on a node, and issue 7 case 4's snapshot
// from another cluster, on one lab: the refusals first (they change
// nothing, which the test checks), then the whole procedure from the file
// on cp-2, then (issue 15 item 3) that file rewritten while the next run
// waits at the restore gate: refused before any member is touched.
func TestASnapshotOnANodeIsVerifiedThereAndRestoresTheLabAndBadOnesAreRefusedInPreflight(t *testing.T) {
	l := inProcessLab(t, 120)
	good, err := os.ReadFile(filepath.Join(l.Dir(), "snapshot.db"))
	must(t, err)
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0xff // the trailer no longer matches the body
	putOnNode(t, l, "cp-2", "/var/backups/etcd/snap.db", good)
	putOnNode(t, l, "cp-2", "/var/backups/etcd/corrupt.db", bad)

	t.Run("a corrupt snapshot on cp-2 is refused in preflight naming the node and the file", func(t *testing.T) {
		cluster := clusterWith(t, l, "corrupt", "/var/backups/etcd/corrupt.db", "cp-2")
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		requireRefusedInPreflight(t, l, saw, err, start, "cp-2", "/var/backups/etcd/corrupt.db", "refused", "sha256 trailer does not match")
		requireFileOnNode(t, l, "cp-2", "/var/backups/etcd/corrupt.db", bad)
	})
	t.Run("a snapshot from another cluster is refused in preflight naming both member sets", func(t *testing.T) {
		other := otherClusterSnapshot(t, "other-1")
		cluster := clusterWith(t, l, "other", other, config.SnapshotOnBastion)
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		requireRefusedInPreflight(t, l, saw, err, start, "comes from another cluster", "[other-1 (", "this cluster's are [cp-1 (",
			"would replace every object of this cluster")
	})
	t.Run("the whole procedure from the snapshot on cp-2 restores the lab", func(t *testing.T) {
		cluster := clusterWith(t, l, "on-cp-2", "/var/backups/etcd/snap.db", "cp-2")
		saw, err := runEngine(t, cluster, 0)
		if err != nil {
			t.Fatalf("the run failed: %v\n%s", err, tail(saw, 60))
		}
		requireInvariants(t, l.Dir())
		requireFileOnNode(t, l, "cp-2", "/var/backups/etcd/snap.db", good)
		evs, err := lab.ReadTimeline(l.Dir())
		must(t, err)
		from := map[string]string{}
		for _, e := range evs {
			if e.Kind == lab.EvSSHExec && strings.Contains(e.Command, "snapshot restore") {
				from[e.Node] = e.Command
			}
		}
		if !strings.Contains(from["cp-2"], "snapshot restore /var/backups/etcd/snap.db ") {
			t.Errorf("cp-2 did not restore from its file in place: %s", from["cp-2"])
		}
		for _, n := range []string{"cp-1", "cp-3"} {
			if !strings.Contains(from[n], "snapshot restore /var/lib/etcd-dr-snapshot-") {
				t.Errorf("%s did not restore from the verified copy: %s", n, from[n])
			}
		}
	})
	t.Run("a snapshot on cp-2 rewritten while the restore gate is open is refused before any member is touched", func(t *testing.T) {
		fresh, err := os.ReadFile(filepath.Join(l.Dir(), "snapshot.db"))
		must(t, err)
		requireRewriteAtTheRestoreGateIsRefused(t, l, "/var/backups/etcd/rewritten.db", fresh)
	})
}

// putOnNode writes data to file on node over the node's SSH, as an
// operator's backup job would have left it there.
func putOnNode(t *testing.T, l *lab.Lab, node, file string, data []byte) {
	t.Helper()
	cl, _, err := config.Load(l.ClusterFile())
	must(t, err)
	r, err := nodes.NewRunner(cl, nodes.Options{})
	must(t, err)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := r.Run(ctx, node, nodes.Cmd{Args: []string{"sh", "-c", `mkdir -p -- "$(dirname -- "$1")" && cat >"$1"`, "put", file},
		Sudo: true, Stdin: strings.NewReader(string(data))}, nil)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("put %s on %s: %v", file, node, err)
	}
}

// requireFileOnNode: the node's file is exactly data (read over SSH).
func requireFileOnNode(t *testing.T, l *lab.Lab, node, file string, data []byte) {
	t.Helper()
	cl, _, err := config.Load(l.ClusterFile())
	must(t, err)
	r, err := nodes.NewRunner(cl, nodes.Options{})
	must(t, err)
	defer r.Close()
	res, err := r.Run(context.Background(), node, nodes.Cmd{Args: []string{"sha256sum", "--", file}, Sudo: true}, nil)
	must(t, err)
	sum := sha256.Sum256(data)
	if got := strings.Fields(res.Stdout); len(got) == 0 || got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("%s on %s changed: sha256 %q, want %x", file, node, res.Stdout, sum)
	}
}

// clusterWith writes a copy of the lab's cluster file with the snapshot at
// path on on, and its own state dir so each run starts afresh.
func clusterWith(t *testing.T, l *lab.Lab, name, path, on string) string {
	t.Helper()
	b, err := os.ReadFile(l.ClusterFile())
	must(t, err)
	var c map[string]any
	must(t, yaml.Unmarshal(b, &c))
	c["snapshot"] = map[string]any{"path": path, "on": on}
	c["state"] = map[string]any{"dir": filepath.Join(l.Dir(), "state-"+name)}
	out, err := yaml.Marshal(c)
	must(t, err)
	p := filepath.Join(l.Dir(), "cluster-"+name+".yaml")
	must(t, os.WriteFile(p, out, 0o644))
	return p
}

// requireRefusedInPreflight: the run failed in preflight telling the
// operator each of want, step 1 never started, and since start no command
// changed anything on any node: nothing copied, parked or locked.
func requireRefusedInPreflight(t *testing.T, l *lab.Lab, saw string, err error, start time.Time, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the run succeeded:\n%s", tail(saw, 40))
	}
	saw += "\n" + err.Error()
	for _, w := range want {
		if !strings.Contains(saw, w) {
			t.Errorf("the operator was not told %q; saw (tail):\n%s", w, tail(saw, 40))
		}
	}
	for _, line := range strings.Split(saw, "\n") {
		if node, ok := nodeLine(line, string(steps.StopApiservers), "running"); ok {
			t.Errorf("stop-apiservers started on %s after the refusal", node)
		}
	}
	evs, rerr := lab.ReadTimeline(l.Dir())
	must(t, rerr)
	for _, e := range evs {
		if e.Kind != lab.EvSSHExec || e.Time.Before(start) {
			continue
		}
		// Preflight's read-only lock check (steps.CheckLockFree) names the
		// lock file but changes nothing: its script alone tests "$3".
		if strings.Contains(e.Command, `[ -n "$3" ] && grep -qF -- "$3" "$1"; then exit 0; fi`) {
			continue
		}
		for _, change := range []string{".part", "parked", "etcd-dr.lock", "snapshot restore"} {
			if strings.Contains(e.Command, change) {
				t.Errorf("%s ran %q before the refusal", e.Node, e.Command)
			}
		}
	}
	requireSafety(t, l.Dir())
	for _, line := range strings.Split(saw, "\n") {
		if strings.Contains(line, "step preflight") && strings.Contains(line, "failed") {
			t.Logf("the operator saw: %s", strings.TrimSpace(line))
			break
		}
	}
}

// otherClusterSnapshot is a real snapshot of another, one-member cluster
// whose member is called name.
func otherClusterSnapshot(t *testing.T, name string) string {
	t.Helper()
	free := func() url.URL {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		return url.URL{Scheme: "http", Host: ln.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, filepath.Join(t.TempDir(), "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, peer := free(), free()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = fmt.Sprintf("%s=%s", name, peer.String())
	e, err := embed.StartEtcd(cfg)
	must(t, err)
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd did not become ready in 30s")
	}
	out := filepath.Join(t.TempDir(), "other.db")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = snapshot.Save(ctx, clientv3.Config{Logger: zap.NewNop()}, client.String(), out)
	must(t, err)
	return out
}
