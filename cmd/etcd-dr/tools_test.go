package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// Issue 14's etcd tools, on a lab of kubespray-like hosts: etcdutl and
// etcdctl sit in every member's /usr/local/bin, which the nodes' RHEL-like
// sudo (secure_path) does not search, so, as on a kubeadm host without any,
// the restore can only use tools the bastion brings. First `check`, which
// must say so and change nothing; then a snapshot saved by a newer etcd,
// refused before anything changes; then preflight, which must bring the
// tools, prove them under sudo and read the live revision with them.
func TestStockNodesGetTheirEtcdToolsBroughtAndProvenAndANewerSnapshotIsRefused(t *testing.T) {
	// Block 132: 130 and 131 are drill_cleanup_test.go's.
	labtest.Block(t, 132)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a cold lab on 2 loaded cores
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 132, Workers: 1, HostEtcdTools: true})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	members := []string{"cp-1", "cp-2", "cp-3"}

	t.Run("check says per member that the restore would bring etcdutl and etcdctl 3.6, and brings nothing", func(t *testing.T) {
		start := time.Now()
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", l.ClusterFile(), "-o", "json"}, &out, &errb); code != exitOK {
			t.Fatalf("check exit %d\n%s\n%s", code, &out, &errb)
		}
		var got struct{ Nodes []nodeCheck }
		must(t, json.Unmarshal(out.Bytes(), &got))
		seen := 0
		for _, n := range got.Nodes {
			mt := n.EtcdTools
			if mt == nil {
				continue
			}
			seen++
			if mt.EtcdVersion != "3.6.6" || len(mt.Tools) != 2 {
				t.Errorf("%s: %+v; want etcd 3.6.6 and two tools", n.Node, mt)
				continue
			}
			for _, u := range mt.Tools {
				if u.Bastion == "" || !strings.HasPrefix(u.Argv0, "/var/lib/etcd-dr/tools/") || !strings.Contains(u.Host, "not on sudo's PATH") {
					t.Errorf("%s: %s would be %+v; want brought from the bastion, the node's own hidden by sudo", n.Node, u.Name, u)
				}
			}
		}
		if seen != len(members) {
			t.Errorf("check reported tools for %d members, want %d:\n%s", seen, len(members), &out)
		}
		requireNoCommand(t, l, start, "/var/lib/etcd-dr/tools")
	})

	t.Run("a snapshot saved by etcd 3.7 is refused against 3.6.6 members before anything changes", func(t *testing.T) {
		snap := withStorageVersion(t, filepath.Join(l.Dir(), "snapshot.db"), "3.7.0")
		cluster := clusterWith(t, l, "etcd37", snap, config.SnapshotOnBastion)
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		requireRefusedInPreflight(t, l, saw, err, start, "storage version 3.7.0", "cp-1 (member cp-1) runs etcd 3.6.6",
			"Failed to validate schema")
		requireNoCommand(t, l, start, "/var/lib/etcd-dr/tools")
	})

	t.Run("a bastion without the members' tools is refused in preflight naming node, tool and fix", func(t *testing.T) {
		cluster := clusterWith(t, l, "notools", filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
		empty := t.TempDir()
		cluster = editCluster(t, cluster, "etcd:\n", "    toolsDir: "+empty+"\n")
		start := time.Now()
		saw, err := runEngine(t, cluster, 0)
		requireRefusedInPreflight(t, l, saw, err, start, "cp-1 runs etcd 3.6.6 and its own etcdutl is not on sudo's PATH",
			"no etcdutl 3.6.x in "+empty, "etcd-dr tools build --etcd-version 3.6.6")
		requireNoCommand(t, l, start, "/var/lib/etcd-dr/tools")
	})

	t.Run("preflight brings both tools where sudo hides the node's own, proves them and reads the live revision", func(t *testing.T) {
		start := time.Now()
		cluster := clusterWith(t, l, "preflight", filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
		var saw bytes.Buffer
		s, err := openSessionWith(engineFlags{file: cluster}, &saw, func(o *steps.Options) {
			o.Steps = []steps.Step{steps.PreflightStep()} // preflight alone: the drill tests run the rest
		})
		must(t, err)
		defer s.Close()
		if _, err := headless(ctx, s, "drill", &saw); err != nil {
			t.Fatalf("preflight failed: %v\n%s", err, tail(saw.String(), 40))
		}
		text := saw.String()
		for _, n := range members {
			if !containsLine(text, "check ok   "+n, "etcd tools match etcd 3.6.6", "brought from the bastion") {
				t.Errorf("%s: no passed tools check naming the brought tools:\n%s", n, tail(text, 40))
			}
		}
		if !containsLine(text, "check ok   cluster", "live etcd revision") {
			t.Errorf("the live revision was not read with the brought etcdctl:\n%s", tail(text, 40))
		}
		evs, err := lab.ReadTimeline(l.Dir())
		must(t, err)
		proved := map[string]int{}
		for _, e := range evs {
			// Preflight passed, so each proof ran and printed its version.
			if e.Kind == lab.EvSSHExec && !e.Time.Before(start) && strings.Contains(e.Command, "sudo -n --") &&
				(strings.HasSuffix(e.Command, "/etcdutl version") || strings.HasSuffix(e.Command, "/etcdctl version")) &&
				strings.Contains(e.Command, " /var/lib/etcd-dr/tools/") {
				proved[e.Node]++
			}
		}
		for _, n := range members {
			if proved[n] != 2 {
				t.Errorf("%s: %d brought tools proven under sudo, want 2 (etcdutl, etcdctl)", n, proved[n])
			}
		}
	})
}

// requireNoCommand: no SSH command since start mentioned what.
func requireNoCommand(t *testing.T, l *lab.Lab, start time.Time, what string) {
	t.Helper()
	evs, err := lab.ReadTimeline(l.Dir())
	must(t, err)
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && !e.Time.Before(start) && strings.Contains(e.Command, what) {
			t.Errorf("%s ran %q", e.Node, e.Command)
		}
	}
}

// containsLine: one line of text holds every part.
func containsLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// withStorageVersion is a copy of the snapshot at src whose meta bucket
// says storage version v, with its sha256 trailer made whole again. It
// stands in for a snapshot saved by etcd 3.7 of this same cluster (a FAKE
// by one key: two labs of different etcd versions at once would not fit
// CI), which etcd 3.7 marks exactly so (server/storage/schema).
func withStorageVersion(t *testing.T, src, v string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	body := filepath.Join(t.TempDir(), "body.db")
	must(t, os.WriteFile(body, data[:len(data)-sha256.Size], 0o600))
	db, err := bolt.Open(body, 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("storageVersion"), []byte(v))
	}))
	must(t, db.Close())
	b, err := os.ReadFile(body)
	must(t, err)
	sum := sha256.Sum256(b)
	out := filepath.Join(t.TempDir(), "snapshot-etcd37.db")
	must(t, os.WriteFile(out, append(b, sum[:]...), 0o600))
	return out
}
