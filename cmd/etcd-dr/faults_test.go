package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// faultCase is one row of issue 7's fault matrix: a fault injected through
// the lab's knobs, what the operator must be told, and the step that must
// never start because of it.
type faultCase struct {
	name     string
	injected string // for the `make faults` table
	sawMark  string // the table shows what the operator saw from this text on
	block    int
	inject   func(t *testing.T, l *lab.Lab) (cluster string)
	// deadline bounds the engine's verify loops (short where the fault
	// makes a post-condition wait for ever).
	deadline time.Duration
	want     []string // each must appear in what the operator saw
	never    string   // this step must never start
	// quiet, if set, is a node on which no command may run after inject.
	quiet string
}

// The fault matrix on an in-process lab (the knobs act in the process
// running the lab): each fault makes the procedure stop with a message
// naming the node and the cause, the step after it never starts, and the
// safety invariants hold — no restore while an apiserver ran, the old data
// dirs untouched.
func TestEveryInjectedFaultStopsTheProcedureWithAClearMessageAndTheInvariantsHold(t *testing.T) {
	t.Parallel() // each case claims its own lab block (inProcessLab, detachedLab)
	for _, tc := range []faultCase{
		{
			name: "case 3: an apiserver keeps running after its manifest is parked", block: 54,
			injected: "cp-2's kubelet ignores the removal of kube-apiserver.yaml",
			sawMark:  "kube-apiserver stopped on cp-2",
			inject: func(t *testing.T, l *lab.Lab) string {
				must(t, l.IgnoreManifestRemoval("cp-2", "kube-apiserver", true))
				return l.ClusterFile()
			},
			deadline: 20 * time.Second,
			want:     []string{"cp-2", "kube-apiserver"},
			never:    string(steps.RestoreEtcd),
		},
		{
			name: "case 8: one node's host key changed", block: 55,
			injected: "cp-2's SSH host key replaced by one not in known_hosts",
			sawMark:  "HOST KEY CHANGED",
			inject: func(t *testing.T, l *lab.Lab) string {
				_, err := l.ChangeHostKey("cp-2")
				must(t, err)
				return l.ClusterFile()
			},
			want:  []string{"cp-2", "SHA256:"},
			never: string(steps.StopApiservers),
			quiet: "cp-2",
		},
		{
			name: "case 2: the restore hangs on one member", block: 56,
			injected: "`etcdutl snapshot restore` hangs on cp-2; commandTimeout: 20s",
			sawMark:  "did not finish within",
			inject: func(t *testing.T, l *lab.Lab) string {
				must(t, l.HangCommands("cp-2", "snapshot restore"))
				return editCluster(t, l.ClusterFile(), "    connectTimeout: 5s\n", "    commandTimeout: 20s\n")
			},
			// The restore's timeout is commandTimeout (20 s) plus time sized
			// from the rate the copy to cp-2 measured (23 s on a loaded
			// machine): the figure is unit-tested in steps, the message here.
			want:  []string{"on cp-2", "etcdutl", "did not finish within", "SIGTERM, then SIGKILL"},
			never: string(steps.StartApiservers),
		},
		{
			name: "case 5: the disk of one member's new data dir is full", block: 57,
			injected: "cp-2's disk under its new data dir fills up after preflight: all but 4 MiB taken as its restore begins",
			sawMark:  "no space left on device",
			inject: func(t *testing.T, l *lab.Lab) string {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				// Every member has room when preflight measures it (the
				// readiness report's quota-and-disk counts 2x the snapshot
				// and etcd's two preallocated 64 MB WAL segments, so a 4 MiB
				// disk is refused there); cp-2's fills up afterwards, just
				// before its restore runs, which fails with ENOSPC. cp-2's
				// disk is 160 MiB: a tmpfs filled whole takes that much RAM.
				must(t, l.FillDisk(ctx, "cp-2", "/var/lib/etcd-full", 160<<20))
				must(t, l.FillDisk(ctx, "cp-1", "/var/lib/etcd-full", 1<<30))
				must(t, l.FillDisk(ctx, "cp-3", "/var/lib/etcd-full", 1<<30))
				must(t, l.FillDiskBefore("cp-2", "snapshot restore", "/var/lib/etcd-full", 4<<20))
				return editCluster(t, l.ClusterFile(), "    mode: static-pod\n", "    restoredDataDir: /var/lib/etcd-full/restored-{{.Time}}\n")
			},
			want:  []string{"on cp-2", "etcdutl", "no space left on device", "/var/lib/etcd-full/restored-"},
			never: string(steps.StartApiservers),
		},
		{
			name: "case 12: a backup copy of etcd.yaml left in the manifests dir", block: 171,
			injected: "`cp etcd.yaml etcd.yaml.bak` in cp-2's /etc/kubernetes/manifests (the kubelet runs every non-dot file)",
			sawMark:  "etcd.yaml.bak",
			inject: func(t *testing.T, l *lab.Lab) string {
				copied := time.Now()
				must(t, l.CopyNodeFile(context.Background(), "cp-2",
					"/etc/kubernetes/manifests/etcd.yaml", "/etc/kubernetes/manifests/etcd.yaml.bak"))
				// The kubelet runs etcd from the copy now (its store keeps
				// the file read last): as on a node where the copy was made
				// long before, the run starts once that swap is over.
				waitPodStartedSince(t, l.Dir(), "cp-2", "etcd", copied)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				must(t, l.WaitEtcdHealthy(ctx))
				return l.ClusterFile()
			},
			// Short: on an engine without the preflight check, step 2
			// would wait this long for an etcd that never stops.
			deadline: 20 * time.Second,
			want:     []string{"cp-2", "/etc/kubernetes/manifests/etcd.yaml.bak", "cp etcd.yaml etcd.yaml.bak"},
			never:    string(steps.StopApiservers),
		},
		{
			name: "case 13: a kubelet whose config sources never synced", block: 172,
			injected: "cp-2's kubelet skips pod deletes (started while no apiserver answered)",
			sawMark:  "kube-apiserver stopped on cp-2",
			inject: func(t *testing.T, l *lab.Lab) string {
				must(t, l.KubeletSourcesNotReady("cp-2", true))
				return l.ClusterFile()
			},
			// Short: the apiserver never stops, and the test is about the
			// message at the deadline, not the deadline's length.
			deadline: 20 * time.Second,
			want:     []string{"cp-2", "kube-apiserver still runs", "sources aren't ready", "crictl stop"},
			never:    string(steps.RestoreEtcd),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := &faultRow{Case: strings.Replace(strings.TrimPrefix(tc.name, "case "), ":", "", 1), Injected: tc.injected}
			defer row.log(t)
			l := inProcessLab(t, tc.block)
			cluster := tc.inject(t, l)
			start := time.Now()
			saw, err := runEngine(t, cluster, tc.deadline)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("the run succeeded despite the fault:\n%s", tail(saw, 40))
			}
			saw += "\n" + err.Error()
			for _, w := range tc.want {
				if !strings.Contains(saw, w) {
					t.Errorf("the operator was not told %q; saw (tail):\n%s", w, tail(saw, 40))
				}
			}
			for _, line := range strings.Split(saw, "\n") {
				if node, ok := nodeLine(line, tc.never, "running"); ok {
					t.Errorf("%s started on %s after the fault", tc.never, node)
				}
			}
			row.held(requireSafetySince(t, l.Dir(), start))
			if tc.quiet != "" {
				requireNoCommandSince(t, l.Dir(), tc.quiet, start)
			}
			row.Saw, row.Detect = fromMark(saw, tc.sawMark), took.Round(100*time.Millisecond).String()+" from the run's start"
		})
	}
}

// inProcessLab brings a lab up in this process on block (claimed for t,
// which it makes parallel) and takes it down at the end.
func inProcessLab(t *testing.T, block int) *lab.Lab {
	t.Helper()
	labtest.Block(t, block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: block, Workers: 1})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	return l
}

// runEngine runs the real engine headless on cluster, as `etcd-dr run
// --headless` does, and returns what the operator saw and the outcome.
func runEngine(t *testing.T, cluster string, deadline time.Duration) (string, error) {
	t.Helper()
	return runEngineWith(t, cluster, func(o *steps.Options) {
		if deadline > 0 {
			o.Deadline = deadline
			o.StopWait = deadline // step 1 sizes its own wait otherwise
		}
	})
}

// requireSafety: lab verify's safety invariants that must hold even when
// the procedure stopped half-way.
func requireSafety(t *testing.T, dir string) (ok bool) {
	t.Helper()
	return requireSafetySince(t, dir, time.Time{})
}

// requireSafetySince is requireSafety for a run that started at since: the
// old data dirs are compared with their digests from etcd's first stop
// after it, so what the fault's injection did before the run (a stray
// manifest makes the kubelet restart etcd) is not taken for the run's.
func requireSafetySince(t *testing.T, dir string, since time.Time) (ok bool) {
	t.Helper()
	ok = true
	verify := func() (lab.Report, error) { return lab.Verify(context.Background(), dir) }
	if !since.IsZero() {
		verify = func() (lab.Report, error) { return lab.VerifySince(context.Background(), dir, since) }
	}
	rep, err := verify()
	if err != nil {
		t.Fatalf("lab verify: %v", err)
	}
	for _, c := range rep.Checks {
		if (c.Name == lab.CheckNoRestoreWhileApiserver || c.Name == lab.CheckOldDataIntact) && !c.OK {
			t.Errorf("invariant %s broken: %s", c.Name, c.Detail)
			ok = false
		}
	}
	return ok
}

// requireNoCommandSince: the lab's timeline shows no SSH command on node
// since t0.
func requireNoCommandSince(t *testing.T, dir, node string, t0 time.Time) {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	must(t, err)
	for _, e := range evs {
		if e.Node == node && e.Kind == lab.EvSSHExec && e.Time.After(t0) {
			t.Errorf("%s ran %q at %s although its host key was refused", node, e.Command, e.Time.Format(time.RFC3339Nano))
		}
	}
}

// editCluster writes a copy of the cluster file with addition inserted
// after the line anchor, and returns its path.
func editCluster(t *testing.T, cluster, anchor, addition string) string {
	t.Helper()
	b, err := os.ReadFile(cluster)
	must(t, err)
	if !strings.Contains(string(b), anchor) {
		t.Fatalf("%s has no %q to add %q after", cluster, anchor, addition)
	}
	p := filepath.Join(filepath.Dir(cluster), "cluster-fault.yaml")
	must(t, os.WriteFile(p, []byte(strings.Replace(string(b), anchor, anchor+addition, 1)), 0o644))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// firstFailure is the first line of what the operator saw that reports a
// failure: the row of the fault matrix's report.
func firstFailure(saw string) string {
	for _, l := range strings.Split(saw, "\n") {
		if strings.Contains(l, "ERROR:") || strings.Contains(l, "FAILED:") {
			return strings.TrimSpace(l)
		}
	}
	return "(no failure line)"
}

// fromMark is the rest of the first line of saw holding mark, from mark on:
// the words of the failure that matter, without the command line before.
func fromMark(saw, mark string) string {
	line := lineWith(saw, mark)
	if i := strings.Index(line, mark); i > 0 {
		return "… " + line[i:]
	}
	return line
}

// waitPodStartedSince waits (2 min: a loaded machine) until the lab's
// timeline shows pod started on node after since.
func waitPodStartedSince(t *testing.T, dir, node, pod string, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		evs, err := lab.ReadTimeline(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Kind == lab.EvPodStart && e.Node == node && e.Pod == pod && e.Time.After(since) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not start on %s after %s", pod, node, since.Format(time.RFC3339Nano))
}
