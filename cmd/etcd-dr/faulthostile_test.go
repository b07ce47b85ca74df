package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

// Cases 9 and 11 and the secrets check share one lab (block 110): the
// first two are refused before anything changes on a node (each asserts
// it), so the hostile drill after them starts from the lab as Up left it.

// destructive are marks of every command that changes a node: park and
// unpark, the restore, the manifest write, systemctl.
var destructive = []string{`src="$1/$3"`, "snapshot restore", `f="$1"; bak="$2"`, "systemctl"}

// hostile holds everything a shell would act on: quotes, ;, $(), backticks
// and a newline. Run by any shell on a node, it creates /root/PWNED-*.
const hostile = "cp-2 '\"; $(touch /root/PWNED-subst) `touch /root/PWNED-tick`; touch /root/PWNED-semi\nx"

func TestSudoWantingAPasswordHostileValuesAndSecretsOnTheLab(t *testing.T) {
	l := inProcessLab(t, 110)
	t.Run("case 9: sudo wanting a password on one node stops preflight at once, naming the node", func(t *testing.T) { sudoWantsAPassword(t, l) })
	t.Run("case 11: a hostile node name is refused with its file and line and nothing runs", func(t *testing.T) { hostileNodeName(t, l) })
	var saw string // what the operator saw of the hostile drill, which carries the manifest secret
	t.Run("case 11: hostile manifest values and data dir run nothing on any node and the drill verifies", func(t *testing.T) { hostileDrill(t, l, &saw) })
	t.Run("secrets in the lab and in a manifest never reach the screen, the journal or the transcript", func(t *testing.T) {
		if saw == "" {
			t.Fatal("the hostile drill, which carries the manifest secret, did not run")
		}
		requireNoSecret(t, l, saw)
	})
}

// sudoWantsAPassword is case 9.
func sudoWantsAPassword(t *testing.T, l *lab.Lab) {
	row := &faultRow{Case: "9 sudo wants a password", Injected: "cp-2's sudo answers -n with `sudo: a password is required`, exit 1, as real sudo without NOPASSWD"}
	defer row.log(t)
	must(t, l.RequireSudoPassword("cp-2", true))
	defer func() { must(t, l.RequireSudoPassword("cp-2", false)) }()
	t0 := time.Now()
	saw, err := runEngine(t, l.ClusterFile(), 0)
	if err == nil {
		t.Fatalf("the run went on although sudo on cp-2 wants a password:\n%s", tail(saw, 40))
	}
	saw += "\n" + err.Error()
	for _, w := range []string{"sudo on cp-2 wants a password", "NOPASSWD"} {
		if !strings.Contains(saw, w) {
			t.Errorf("the operator was not told %q:\n%s", w, tail(saw, 30))
		}
	}
	row.Saw = reason(firstFailure(saw))
	if line, ok := stepStarted(saw, string(steps.StopApiservers)); ok {
		t.Errorf("step 1 started although preflight failed: %s", line)
	}
	if at, ok := failedAt(saw, t0); ok {
		row.Detect = at.Sub(t0).Round(10*time.Millisecond).String() + " from the run's start"
		// A hang would wait out ssh.commandTimeout (5 min); preflight
		// answering at all within a minute shows it did not.
		if d := at.Sub(t0); d > time.Minute {
			t.Errorf("preflight took %s to report the sudo refusal: a hang?", d)
		}
	}
	requireNothingDestructiveSince(t, l.Dir(), t0)
	row.held(requireSafety(t, l.Dir()))
}

// hostileNodeName is case 11 in the cluster file.
func hostileNodeName(t *testing.T, l *lab.Lab) {
	row := &faultRow{Case: "11 hostile node name", Injected: "cp-3 renamed to a name with quotes, ;, $(), backticks, a newline in cluster.yaml"}
	defer row.log(t)
	quoted, _ := json.Marshal(strings.Replace(hostile, "cp-2", "cp-3", 1))
	cluster := replaceInCluster(t, l.ClusterFile(), "name: cp-3\n", "name: "+string(quoted)+"\n", "cluster-hostile-name.yaml")
	t0 := time.Now()
	saw, err := runEngine(t, cluster, 0)
	if err == nil {
		t.Fatalf("a hostile node name was accepted:\n%s", tail(saw, 40))
	}
	msg := saw + "\n" + err.Error()
	row.Saw, row.Detect = lineWith(msg, "cp-3"), "before any connection"
	for _, w := range []string{filepath.Base(cluster) + ":", "cp-3", "name"} {
		if !strings.Contains(msg, w) {
			t.Errorf("the refusal does not name %q:\n%s", w, msg)
		}
	}
	for _, n := range l.Nodes() {
		requireNoCommandSince(t, l.Dir(), n.Name, t0)
	}
	requireNoCanary(t, l)
}

// hostileDrill is case 11 in the manifests and paths; saw gets what the
// operator saw, even when the drill fails.
func hostileDrill(t *testing.T, l *lab.Lab, saw *string) {
	row := &faultRow{Case: "11 hostile manifest values",
		Injected: "etcd --name and --initial-cluster, an apiserver annotation and etcd.restoredDataDir holding quotes, ;, $(), backticks, a newline"}
	defer row.log(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	makeHostile(ctx, t, l)
	t0 := time.Now()
	// One path component (a / would make the hostile part a parent
	// dir that does not exist): the canary is relative, and commands
	// on a lab node start in /root.
	dataDir := "/var/lib/etcd restored '\"; `touch PWNED-datadir`; x-{{.Time}}"
	quoted, _ := json.Marshal(dataDir)
	cluster := replaceInCluster(t, l.ClusterFile(), "    mode: static-pod\n",
		"    mode: static-pod\n    restoredDataDir: "+string(quoted)+"\n", "cluster-hostile.yaml")
	// A journal of its own: case 9's failed preflight left a run open
	// in the lab's, and a resumed run keeps that run's data dir.
	state := filepath.Join(l.Dir(), "state")
	cluster = replaceInCluster(t, cluster, "dir: "+state+"\n", "dir: "+state+"-hostile\n", "cluster-hostile.yaml")
	out, err := runEngine(t, cluster, 0)
	*saw = out
	requireNoCanary(t, l)
	if err != nil {
		row.Saw = reason(firstFailure(out + "\n" + err.Error()))
		t.Fatalf("the drill over hostile values failed: %v\n%s", err, tail(out, 60))
	}
	// Not vacuous: the hostile values did reach the nodes, as data.
	requireCommandWith(t, l.Dir(), "cp-2", "snapshot restore", "PWNED-subst")
	requireCommandWith(t, l.Dir(), "cp-1", "snapshot restore", "PWNED-datadir")
	row.Saw, row.Detect = "the drill finished; hostile values reached the nodes' commands as data, no canary file on any node", "-"
	rep, err := lab.VerifySince(ctx, l.Dir(), t0)
	must(t, err)
	row.held(rep.OK())
	if !rep.OK() {
		t.Errorf("lab verify after the hostile drill: %v %+v", rep.Failed(), rep.Checks)
	}
}

// makeHostile gives cp-2's etcd member the hostile name (and every member's
// --initial-cluster the same), gives cp-2's apiserver manifest a hostile
// annotation and a secret-bearing env, then waits for etcd to be healthy.
func makeHostile(ctx context.Context, t *testing.T, l *lab.Lab) {
	t.Helper()
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	edited := time.Now()
	for _, n := range []string{"cp-1", "cp-2", "cp-3"} {
		must(t, l.EditNodeFile(ctx, n, "/etc/kubernetes/manifests/etcd.yaml", func(b []byte) ([]byte, error) {
			out := make([]string, 0)
			for _, line := range strings.Split(string(b), "\n") {
				switch {
				case strings.HasPrefix(line, "    - --initial-cluster="):
					v := strings.Replace(strings.TrimPrefix(line, "    - "), "cp-2=", hostile+"=", 1)
					line = "    - " + q(v)
				case n == "cp-2" && line == "    - --name=cp-2":
					line = "    - " + q("--name="+hostile)
				}
				out = append(out, line)
			}
			return []byte(strings.Join(out, "\n")), nil
		}))
	}
	must(t, l.EditNodeFile(ctx, "cp-2", "/etc/kubernetes/manifests/kube-apiserver.yaml", func(b []byte) ([]byte, error) {
		s := strings.Replace(string(b), "  annotations:\n", "  annotations:\n    lab.etcd-dr/hostile: "+q(hostile)+
			"\n    lab.etcd-dr/bootstrap: "+q("--token="+manifestSecret)+"\n", 1)
		s = strings.Replace(s, "    name: kube-apiserver\n", "    env:\n    - name: ETCD_PASSWORD\n      value: "+q(manifestSecret)+
			"\n    name: kube-apiserver\n", 1)
		return []byte(s), nil
	}))
	// The kubelet notices an edit on its next poll: wait for the restarts
	// first, or "healthy" would be the old members', and the restart would
	// come during the drill.
	for _, p := range []struct{ node, pod string }{{"cp-1", "etcd"}, {"cp-2", "etcd"}, {"cp-3", "etcd"}, {"cp-2", "kube-apiserver"}} {
		waitPodStart(ctx, t, l.Dir(), p.node, p.pod, edited)
	}
	must(t, l.WaitEtcdHealthy(ctx))
}

// waitPodStart waits until the lab's timeline shows pod started on node
// after since.
func waitPodStart(ctx context.Context, t *testing.T, dir, node, pod string, since time.Time) {
	t.Helper()
	for {
		evs, err := lab.ReadTimeline(dir)
		must(t, err)
		for _, e := range evs {
			if e.Node == node && e.Kind == lab.EvPodStart && e.Pod == pod && e.Time.After(since) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s on %s did not restart after its manifest was edited", pod, node)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// manifestSecret is a --token/--password style value written into a
// manifest: it must never reach the journal, the transcript or the screen.
const manifestSecret = "s3cr3t-manifest-value-7f2a"

// requireNoCanary: no PWNED-* on any node — in its /root (DIR/nodes/NAME/
// root on this machine, where node commands start), its /etc and /var/lib
// (overlay upper dirs), nor in / (this machine's, shared by the nodes).
func requireNoCanary(t *testing.T, l *lab.Lab) {
	t.Helper()
	hits, _ := filepath.Glob("/PWNED-*")
	for _, n := range l.Nodes() {
		for _, d := range []string{"root", "upper/etc", "upper/var/lib"} {
			h, _ := filepath.Glob(filepath.Join(l.Dir(), "nodes", n.Name, d, "PWNED-*"))
			hits = append(hits, h...)
		}
	}
	if len(hits) > 0 {
		t.Errorf("a hostile value ran on a node: %v", hits)
	}
}

// requireNothingDestructiveSince: no command that changes a node ran on any
// node since t0.
func requireNothingDestructiveSince(t *testing.T, dir string, t0 time.Time) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	must(t, err)
	for _, e := range evs {
		if e.Kind != lab.EvSSHExec || !e.Time.After(t0) {
			continue
		}
		for _, d := range destructive {
			if strings.Contains(e.Command, d) {
				t.Errorf("%s ran a command that changes it: %q", e.Node, e.Command)
			}
		}
	}
}

// failedAt is the time of the first failure event the operator saw.
func failedAt(saw string, ref time.Time) (time.Time, bool) {
	for _, l := range strings.Split(saw, "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && (f[3] == "failed" || (len(f) >= 5 && f[4] == "failed")) {
			return eventTime(l, ref)
		}
	}
	return time.Time{}, false
}

// replaceInCluster writes a copy of cluster with from replaced by to.
func replaceInCluster(t *testing.T, cluster, from, to, name string) string {
	t.Helper()
	b, err := os.ReadFile(cluster)
	must(t, err)
	if !strings.Contains(string(b), from) {
		t.Fatalf("%s has no %q", cluster, from)
	}
	p := filepath.Join(filepath.Dir(cluster), name)
	must(t, os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644))
	return p
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// requireNoSecret: the lab's bearer tokens, any private key and the secret
// put into a manifest appear nowhere the run wrote or showed: not in what
// the operator saw (gates included), the journal or the transcripts.
func requireNoSecret(t *testing.T, l *lab.Lab, saw string) {
	t.Helper()
	row := &faultRow{Case: "secrets", Injected: "the lab's bearer tokens, its PKI's private keys, `--token=…` and ETCD_PASSWORD in cp-2's apiserver manifest"}
	defer row.log(t)
	tok := l.Tokens()
	secrets := map[string]string{"the admin token": tok.Admin, "the scheduler token": tok.Scheduler,
		"the controller-manager token": tok.ControllerManager, "a private key": "PRIVATE KEY", "the manifest's secret": manifestSecret}
	texts := map[string]string{"what the operator saw": saw}
	files, _ := filepath.Glob(filepath.Join(l.Dir(), "state-hostile", "drill", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			texts[f] = string(b)
		}
	}
	if len(files) == 0 {
		t.Fatalf("no journal or transcript under %s", filepath.Join(l.Dir(), "state-hostile", "drill"))
	}
	var leaks []string
	for where, text := range texts {
		for what, s := range secrets {
			if i := strings.Index(text, s); i >= 0 {
				leaks = append(leaks, fmt.Sprintf("%s in %s: …%s…", what, where, firstLine(text[max(0, i-60):i])))
			}
		}
	}
	row.Saw = fmt.Sprintf("%d leak(s) in %d files and the screen", len(leaks), len(files))
	if len(leaks) > 0 {
		t.Errorf("secrets leaked:\n%s", strings.Join(leaks, "\n"))
	}
}

// requireCommandWith: node ran a command containing both parts.
func requireCommandWith(t *testing.T, dir, node, part1, part2 string) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	must(t, err)
	for _, e := range evs {
		if e.Node == node && e.Kind == lab.EvSSHExec && strings.Contains(e.Command, part1) && strings.Contains(e.Command, part2) {
			return
		}
	}
	t.Errorf("no command on %s holds both %q and %q: the hostile value never reached it", node, part1, part2)
}
