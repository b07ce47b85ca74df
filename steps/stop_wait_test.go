package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

func seconds(n int64) *int64 { return &n }

// Step 1's wait is what the kubelet will take: the re-list that may be the
// first to see the parked manifest, the pod's grace period as the kubelet
// computes it, and a margin. A manifest that raises the grace period gets
// a longer wait, never a fixed one it outlives.
func TestStepOnesWaitIsSizedFromTheKubeletsReListAndThePodsGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		name      string
		grace     *int64
		wantGrace time.Duration
		want      time.Duration
	}{
		{"a manifest without terminationGracePeriodSeconds gets the kubelet's 30 s", nil, 30 * time.Second, 80 * time.Second},
		{"kubeadm's default written out is the same", seconds(30), 30 * time.Second, 80 * time.Second},
		{"a grace period raised past 2 min minus the re-list is covered", seconds(130), 130 * time.Second, 3 * time.Minute},
		{"a drain-through-the-load-balancer setup's 10 min is covered", seconds(600), 10 * time.Minute, 10*time.Minute + 50*time.Second},
		{"a zero grace period still gets the kubelet's 2 s floor", seconds(0), 2 * time.Second, 52 * time.Second},
		{"a negative one as well", seconds(-5), 2 * time.Second, 52 * time.Second},
		{"a grace period no Duration holds is capped, not overflowed", seconds(1 << 62), 24 * time.Hour, 24*time.Hour + 50*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := stopWaitFor("cp-1", CompAPIServer, tc.grace)
			if w.Grace != tc.wantGrace || w.Deadline != tc.want {
				t.Fatalf("grace %s, wait %s; want %s, %s", w.Grace, w.Deadline, tc.wantGrace, tc.want)
			}
			if w.Notice != 20*time.Second || w.Margin != 30*time.Second || w.Fixed || w.Node != "cp-1" || w.Component != CompAPIServer {
				t.Fatalf("wait %+v: want the kubelet's 20 s fileCheckFrequency, a 30 s margin, cp-1's kube-apiserver, sized", w)
			}
			if w.Deadline <= w.Notice+w.Grace {
				t.Fatalf("wait %s leaves no margin past the kubelet's %s + %s", w.Deadline, w.Notice, w.Grace)
			}
		})
	}
}

// The wait comes from the manifest read in preflight, per node; the gate
// and `plan` carry it as typed Waits, and a fixed wait set on the engine
// replaces it and says so.
func TestStepOnesGateAndPlanCarryEachNodesWait(t *testing.T) {
	cl := &config.Cluster{Name: "c", Nodes: []config.Node{
		{Name: "cp-1", Roles: []string{config.RoleControlPlane}},
		{Name: "cp-2", Roles: []string{config.RoleControlPlane}},
		{Name: "w-1", Roles: []string{config.RoleWorker}},
	}}
	read := []Apiserver{{Node: "cp-1"}, {Node: "cp-2", GraceSeconds: seconds(130)}}
	for _, tc := range []struct {
		name      string
		apis      []Apiserver
		stopWait  time.Duration
		want      []time.Duration // per control-plane node
		wantFixed bool
		wantFact  string
	}{
		{"before preflight no wait is known, the fact says how it will be sized", nil, 0, nil, false,
			"the kubelet's 20s manifest re-list + the pod's grace period (its manifest's terminationGracePeriodSeconds, read in preflight; 30s when unset) + 30s"},
		{"after preflight each node's own", read, 0, []time.Duration{80 * time.Second, 3 * time.Minute}, false,
			"Waits up to 1m20s (cp-1) to 3m0s (cp-2)"},
		{"a fixed wait replaces them", read, 20 * time.Second, []time.Duration{20 * time.Second, 20 * time.Second}, true,
			"Waits up to 20s per node for its kube-apiserver to be gone (a fixed wait)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Context{Cluster: cl, Values: Values{Apiservers: tc.apis}, stopWait: tc.stopWait}
			ws := apiserverStopWaits(c)
			if len(ws) != len(tc.want) {
				t.Fatalf("waits %+v, want %d", ws, len(tc.want))
			}
			for i, w := range ws {
				if w.Deadline != tc.want[i] || w.Fixed != tc.wantFixed || w.Node != []string{"cp-1", "cp-2"}[i] {
					t.Errorf("wait %d: %+v, want %s fixed=%v", i, w, tc.want[i], tc.wantFixed)
				}
			}
			if f := strings.Join(stopWaitFacts(c), "\n"); !strings.Contains(f, tc.wantFact) {
				t.Errorf("fact %q, want it to say %q", f, tc.wantFact)
			}
			if tc.stopWait > 0 {
				return // a plan has no engine to fix the wait
			}
			ps, err := PlanSteps(cl, Values{Apiservers: tc.apis}, []Step{StopApiserversStep()})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps[0].Waits) != len(tc.want) {
				t.Fatalf("plan's waits %+v, want %d", ps[0].Waits, len(tc.want))
			}
		})
	}
}

// The manifest's grace period reaches the wait through preflight's read.
func TestApiserverFromManifestReadsTheGracePeriod(t *testing.T) {
	const head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n"
	const ctr = "  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.35.4\n    command:\n    - kube-apiserver\n    - --etcd-servers=https://127.0.0.1:2379\n"
	for _, tc := range []struct {
		name, spec string
		want       *int64
	}{
		{"kubeadm's manifest sets none", "", nil},
		{"a raised grace period is read", "  terminationGracePeriodSeconds: 130\n", seconds(130)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ApiserverFromManifest("cp-1", []byte(head+tc.spec+ctr))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case (a.GraceSeconds == nil) != (tc.want == nil):
				t.Fatalf("grace %v, want %v", a.GraceSeconds, tc.want)
			case tc.want != nil && *a.GraceSeconds != *tc.want:
				t.Fatalf("grace %d, want %d", *a.GraceSeconds, *tc.want)
			}
		})
	}
}

// A wait that runs out is typed with the wait it was, so the failed
// node's event carries the deadline and what sized it; a node that is gone
// is not a wait that ran out.
func TestAStopThatOutlivesItsWaitIsTypedWithThatWait(t *testing.T) {
	w := Wait{Node: "cp-2", Component: CompAPIServer, Deadline: 30 * time.Millisecond, Grace: 2 * time.Second}
	c := &Context{Poll: time.Millisecond, Deadline: time.Hour}
	still := &StillRunning{Node: "cp-2", Process: "kube-apiserver", PIDs: []string{"42"}}
	err := stopTimedOut(w, c.waitWithin(context.Background(), w.Deadline, c.Poll, "kube-apiserver stopped on cp-2",
		func(context.Context) error { return still }))
	var st *StopTimedOut
	if !errors.As(err, &st) || st.Wait != w {
		t.Fatalf("err %v: want a *StopTimedOut carrying %+v", err, w)
	}
	var sr *StillRunning
	if !errors.As(err, &sr) {
		t.Fatalf("err %v: the last reading (still running) must stay reachable", err)
	}
	for _, s := range []string{"cp-2", "30ms", "2s grace period", "pid 42"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not say %q", err, s)
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := stopTimedOut(w, cancelled.Err()); errors.As(err, new(*StopTimedOut)) {
		t.Fatalf("a cancelled run typed as a timeout: %v", err)
	}
	if err := stopTimedOut(w, errors.New("ssh: gone")); errors.As(err, new(*StopTimedOut)) {
		t.Fatalf("an error that is no deadline typed as a timeout: %v", err)
	}
}

// A client reads the wait from typed fields: the step's own gate carries
// every node's Waits, and the node that outlived its wait fails with
// Expired, the same Wait, on its NodeEvent.
func TestAClientReadsStepOnesWaitFromTheGateAndTheFailedNodesEvent(t *testing.T) {
	r := newRig(t)
	w := Wait{Node: "cp-1", Component: CompAPIServer, Deadline: 50 * time.Millisecond, Grace: 2 * time.Second,
		Notice: 20 * time.Second, Margin: 30 * time.Second}
	e := r.engine(t, func(o *Options) {
		o.Steps = []Step{{ID: StopApiservers, Title: "stop", Waits: func(*Context) []Wait { return []Wait{w} },
			Verify: func(ctx context.Context, c *Context) error {
				return c.ForEachNode(ctx, []string{"cp-1"}, func(ctx context.Context, node string) error {
					err := c.waitWithin(ctx, w.Deadline, c.Poll, "kube-apiserver stopped on cp-1", func(context.Context) error {
						return &StillRunning{Node: node, Process: "kube-apiserver", PIDs: []string{"42"}}
					})
					return c.parkedPodGone(node, "kube-apiserver", stopTimedOut(w, err))
				})
			}}}
	})
	c := drive(e, yes)
	if _, err := e.Run(context.Background()); err == nil {
		t.Fatal("the run passed with the apiserver still running")
	}
	c.wait(t)
	if len(c.gates) == 0 || len(c.gates[0].Waits) != 1 || c.gates[0].Waits[0] != w {
		t.Fatalf("step 1's gate carries waits %+v, want [%+v]", c.gates, w)
	}
	var expired *Wait
	for _, ev := range c.events {
		if ne, ok := ev.(NodeEvent); ok && ne.State == Failed && ne.Node == "cp-1" {
			expired = ne.Expired
		}
	}
	if expired == nil || *expired != w {
		t.Fatalf("cp-1's failure carries Expired %+v, want %+v", expired, w)
	}
}
