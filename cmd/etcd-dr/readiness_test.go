package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// Issue 18's readiness report against a lab that encrypts Secrets at rest
// (its default). check shows the report; then each readiness fault, applied
// in turn to the same lab, stops the procedure in preflight with its own
// check's message and changes nothing on any node. Faults accumulate, so
// each later run overrides (by name, in the cluster file) the checks the
// earlier faults fail, which also proves an override opens exactly the check
// it names. No encryption key's secret appears in any output, journal or
// transcript.
func TestEachReadinessFaultStopsTheRunBeforeStepOneAndChangesNothing(t *testing.T) {
	labtest.Block(t, 205)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute) // a cold lab, then two rounds of apiserver restarts, on loaded cores
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 205, Workers: 1})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	keys := encryptionSecrets(t, l.Dir())
	if len(keys) != 1 {
		t.Fatalf("the lab's apiservers hold %d encryption keys, want 1 (encryption at rest on by default)", len(keys))
	}
	var seen []string // everything the operator saw, for the secrets check

	t.Run("check shows every readiness check passing on the encrypted lab, naming the key and its Secrets", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "-f", l.ClusterFile(), "-o", "json"}, &out, &errb); code != exitOK {
			t.Fatalf("check exit %d\n%s\n%s", code, &out, &errb)
		}
		seen = append(seen, out.String(), errb.String())
		var got struct {
			Readiness   *steps.ReadinessReport `json:"readiness"`
			ReadinessOK bool                   `json:"readinessOK"`
		}
		must(t, json.Unmarshal(out.Bytes(), &got))
		if got.Readiness == nil || !got.ReadinessOK {
			t.Fatalf("check -o json has no passing readiness report:\n%s", &out)
		}
		var names []string
		for _, c := range got.Readiness.Checks {
			names = append(names, c.Name)
			if !c.OK {
				t.Errorf("check %s failed on a clean lab: %s", c.Name, c.Problem)
			}
		}
		for _, want := range []string{steps.CheckEncryption, steps.CheckCAEra, steps.CheckCertificates, steps.CheckQuotaDisk, steps.CheckAutomation, steps.CheckEtcdVersions} {
			if !slices.Contains(names, want) {
				t.Errorf("the report lacks %s: %v", want, names)
			}
		}
		text := steps.ReadinessReport(*got.Readiness).Text()
		for _, want := range []string{"key aescbc:lab-key-1 encrypts secrets: 1", "kube-root-ca.crt ConfigMaps carry CA sha256"} {
			if !strings.Contains(text, want) {
				t.Errorf("the report does not say %q:\n%s", want, text)
			}
		}
	})

	for _, tc := range []struct {
		fault     string
		overrides []string // the checks earlier faults fail
		want      []string
	}{
		{lab.FaultCAReplaced, nil, []string{"readiness check ca-era failed", "the cluster CA was replaced since the snapshot: cp-1, cp-2, cp-3 trust CA sha256",
			"Keep the nodes' CA", "kube-controller-manager, restarted at step 5, republishes them", "add ca-era to readiness.override"}},
		{lab.FaultEncryptionKeyRotated, []string{steps.CheckCAEra}, []string{"readiness check encryption-at-rest failed",
			"cp-1 cannot decrypt key aescbc:lab-key-1, which encrypts secrets: 1 in the snapshot", "lacks key aescbc:lab-key-1 (has aescbc:lab-key-2)"}},
		{lab.FaultNewerEtcdSnapshot, []string{steps.CheckCAEra, steps.CheckEncryption}, []string{"readiness check etcd-versions failed",
			"storage version 3.7.0", "cp-1 (member cp-1) runs etcd 3.6.6", "this check cannot be overridden"}},
	} {
		t.Run(tc.fault+" stops the run in preflight with its own message", func(t *testing.T) {
			must(t, l.ReadinessFault(ctx, tc.fault))
			cluster := clusterWith(t, l, tc.fault, filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
			if len(tc.overrides) > 0 {
				b, err := os.ReadFile(cluster)
				must(t, err)
				b = append(b, []byte("readiness:\n  override: ["+strings.Join(tc.overrides, ", ")+"]\n")...)
				must(t, os.WriteFile(cluster, b, 0o644))
			}
			// check says it first: exit 1, naming the check (the first want).
			var cout, cerr bytes.Buffer
			if code := run([]string{"check", "-f", cluster}, &cout, &cerr); code != exitFailed || !strings.Contains(cerr.String(), tc.want[0]) {
				t.Errorf("check exit %d, want %d naming %q:\n%s\n%s", code, exitFailed, tc.want[0], tail(cout.String(), 30), &cerr)
			}
			seen = append(seen, cout.String()+cerr.String())
			before := nodeState(t, l.Dir())
			start := time.Now()
			saw, err := runEngine(t, cluster, 0)
			seen = append(seen, saw)
			requireRefusedInPreflight(t, l, saw, err, start, tc.want...)
			requireNoCommand(t, l, start, "/var/lib/etcd-dr/tools")
			if after := nodeState(t, l.Dir()); !mapsEqual(before, after) {
				t.Errorf("a node changed during the refused run:\nbefore %v\nafter  %v", before, after)
			}
			files := stateFiles(t, filepath.Join(l.Dir(), "state-"+tc.fault))
			seen = append(seen, files...)
			for _, o := range tc.overrides {
				if !containsLine(saw, "check ok", "readiness "+o) {
					t.Errorf("the override of %s is not shown as a passed check:\n%s", o, tail(saw, 40))
				}
				if !strings.Contains(strings.Join(files, "\n"), "readiness override "+o) {
					t.Errorf("the override of %s is not journaled", o)
				}
			}
		})
	}

	t.Run("no encryption key's secret appears in any output, journal or transcript", func(t *testing.T) {
		all := encryptionSecrets(t, l.Dir())
		all = append(all, keys...)
		for _, k := range all {
			for i, s := range seen {
				if strings.Contains(s, k) {
					t.Errorf("key secret %s… found in output %d", k[:6], i)
				}
			}
		}
	})
}

var secretLine = regexp.MustCompile(`secret: (\S+)`)

// encryptionSecrets reads the key secrets the lab's cp-1 holds now, from its
// sandbox on the host.
func encryptionSecrets(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "nodes", "cp-1", "upper", "etc", "kubernetes", "enc", "encryption-config.yaml"))
	must(t, err)
	var out []string
	for _, m := range secretLine.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// nodeState is every node's static pod manifests (by hash), its
// encryption config and CA, and the names under its /var/lib: a refused run
// must leave all of them as they were.
func nodeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dir, "nodes")
	entries, err := os.ReadDir(root)
	must(t, err)
	for _, n := range entries {
		upper := filepath.Join(root, n.Name(), "upper")
		for _, sub := range []string{"etc/kubernetes/manifests", "etc/kubernetes/enc", "etc/kubernetes/pki", "etc/kubernetes/parked"} {
			_ = filepath.WalkDir(filepath.Join(upper, sub), func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return nil
				}
				sum := sha256.Sum256(b)
				rel, _ := filepath.Rel(root, p)
				out[rel] = hex.EncodeToString(sum[:8])
				return nil
			})
		}
		lib, _ := os.ReadDir(filepath.Join(upper, "var", "lib"))
		for _, e := range lib {
			out[filepath.Join(n.Name(), "var/lib", e.Name())] = "present"
		}
	}
	return out
}

// stateFiles are the contents of a run's state dir: journal and transcript.
func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, string(b))
			}
		}
		return nil
	})
	if len(out) == 0 {
		t.Errorf("no journal or transcript under %s", dir)
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The default drill, Secrets encrypted at rest by the real apiservers,
// passes, and its headless scorecard shows the readiness report that let
// it through: the snapshot's key, found in every apiserver's config.
func TestTheDefaultDrillWithEncryptionAtRestPassesAndShowsItsReadiness(t *testing.T) {
	labtest.Block(t, 206)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	if code := run([]string{"drill", "--headless", "--dir", dir, "--block", "206", "--workers", "1"}, &out, &errb); code != exitOK {
		t.Fatalf("drill exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, &out, tail(errb.String(), 60))
	}
	text := out.String()
	for _, want := range []string{
		"verify               done",
		"ok    seed-served-post-snapshot-gone",
		"readiness encryption-at-rest",
		"snapshot: key aescbc:lab-key-1 encrypts secrets: 1",
		"readiness ca-era",
		"readiness etcd-versions",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scorecard lacks %q:\n%s", want, text)
		}
	}
	for _, cp := range []string{"cp-1", "cp-2", "cp-3"} {
		if !containsLine(text, cp, "/etc/kubernetes/enc/encryption-config.yaml has aescbc:lab-key-1") {
			t.Errorf("scorecard does not show %s's encryption config holding the key:\n%s", cp, text)
		}
	}
	if strings.Contains(text, "FAILED") {
		t.Errorf("a readiness check failed on the default lab:\n%s", text)
	}
}
