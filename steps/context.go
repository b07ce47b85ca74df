package steps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Values are decided once, in preflight, and journaled, so a resumed run
// restores with the SAME bump, token and data dir as the run that died.
type Values struct {
	Run       string    `json:"run"`
	Who       string    `json:"who"`
	StartedAt time.Time `json:"startedAt"`
	// RestoredAt is when step 2 first ran; kubelets must restart after it.
	RestoredAt       time.Time `json:"restoredAt,omitzero"`
	SnapshotSHA256   string    `json:"snapshotSHA256,omitempty"`
	SnapshotRevision int64     `json:"snapshotRevision,omitempty"`
	SnapshotSize     int64     `json:"snapshotSize,omitempty"`
	// SnapshotMemberCopy is where the verified snapshot is copied on every
	// member (but the holder node's with snapshot.on: <node>, which uses
	// its file in place); snapshot_location.go names every location.
	SnapshotMemberCopy string `json:"snapshotOnNode,omitempty"`
	// SnapshotBastionCopy is the copy preflight read from the holder node
	// and verified; it is what the other members receive.
	SnapshotBastionCopy string `json:"snapshotLocal,omitempty"`
	// SnapshotMembers says how the snapshot's member set compares with the
	// cluster's, for the step-2 gate.
	SnapshotMembers []string `json:"snapshotMembers,omitempty"`
	LiveRevision    int64    `json:"liveRevision,omitempty"` // preflight's estimate; 0: etcd was unreachable
	// RevisionAtStop is the highest revision a member reported once every
	// apiserver was proven stopped, read before step 2's gate (0: none
	// answered); BumpAtStop says Bump was decided from it (bump_at_stop.go).
	RevisionAtStop int64 `json:"revisionAtStop,omitempty"`
	BumpAtStop     bool  `json:"bumpAtStop,omitempty"`
	// SnapshotDiff says what the restore throws away, computed in preflight
	// while etcd still serves, and shown at the step-2 gate.
	SnapshotDiff []string `json:"snapshotDiff,omitempty"`
	Bump         int64    `json:"bump,omitempty"`
	Token        string   `json:"token,omitempty"`   // new --initial-cluster-token
	DataDir      string   `json:"dataDir,omitempty"` // new data dir, same path on every member
	// Members and Apiservers are what preflight read from the nodes'
	// manifests before anything changed (rollback needs the old data dirs).
	Members    []Member    `json:"members,omitempty"`
	Apiservers []Apiserver `json:"apiservers,omitempty"`
	// NodeLock is the lock path this run holds on every control-plane and etcd node
	// (empty before preflight takes it and after it is released): while
	// set, every destructive action is fenced by it (Context.execTo).
	NodeLock string `json:"nodeLock,omitempty"`
	// Accepted lists, per step, the nodes the operator chose to leave out
	// when its post-condition held only in part (flush-caches: kubelets
	// not restarted); the engine records it (Engine.acceptPartial).
	Accepted map[StepID][]string `json:"accepted,omitempty"`
	// NotFlushed is Accepted[flush-caches] as journals before Accepted
	// wrote it; read, never written.
	NotFlushed []string `json:"notFlushed,omitempty"`
	// WatchFrom is a resourceVersion read through the API while the cluster
	// was healthy, before step 1: after the restore a watch from it must be
	// refused with 410 (converge.go). WatchFromWhy says why none was read.
	WatchFrom    string `json:"watchFrom,omitempty"`
	WatchFromWhy string `json:"watchFromWhy,omitempty"`
	// NotConverged lists the convergence checks (and nodes) the operator
	// accepted as failed at the verify gate.
	NotConverged []string `json:"notConverged,omitempty"`
	// Before records what flush-caches compares against (node/component →
	// pid or kubelet InvocationID), journaled so a resume compares the same.
	Before map[string]string `json:"before,omitempty"`
	// Readiness is preflight's readiness report (readiness.go), shown at
	// the step-1 gate and in the scorecard.
	Readiness *ReadinessReport `json:"readiness,omitempty"`
	// Source is the snapshot taken from a member (snapshot.from): preflight's
	// ranking, the operator's pick and the db step 2 took (source_member.go).
	Source *Source `json:"source,omitempty"`
	// GateOverrides are the readiness checks the operator overrode at
	// preflight's failure gate (readiness_gate.go), with who chose each.
	GateOverrides []GateOverride `json:"gateOverrides,omitempty"`
}

// Member is one etcd member as its node's manifest (or env file) says.
type Member struct {
	Node       string   `json:"node"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
	// ListenClientURLs include the loopback URL a stacked apiserver uses.
	ListenClientURLs []string `json:"listenClientURLs,omitempty"`
	// DataDir is the data dir on the node (the hostPath behind --data-dir);
	// DataVolume the pod volume holding it ("" in systemd mode).
	DataDir        string `json:"dataDir"`
	DataVolume     string `json:"dataVolume,omitempty"`
	InitialCluster string `json:"initialCluster"`
	Token          string `json:"token,omitempty"`
	CertFile       string `json:"certFile,omitempty"`
	KeyFile        string `json:"keyFile,omitempty"`
	TrustedCAFile  string `json:"trustedCAFile,omitempty"`
	// Image is the static pod's etcd image ("" in systemd mode): its tag
	// says which etcd the member runs.
	Image string `json:"image,omitempty"`
	// EtcdVersion is the etcd the member runs, read in preflight (from
	// EtcdVersionFrom); Etcdutl and Etcdctl are the argv[0] preflight
	// chose and proved on its node under sudo (see decideTools), Tools
	// how. Every later etcdutl and etcdctl command uses them.
	EtcdVersion     string    `json:"etcdVersion,omitempty"`
	EtcdVersionFrom string    `json:"etcdVersionFrom,omitempty"`
	Etcdutl         string    `json:"etcdutl,omitempty"`
	Etcdctl         string    `json:"etcdctl,omitempty"`
	Tools           []ToolUse `json:"tools,omitempty"`
}

// Apiserver is one kube-apiserver as its manifest says.
type Apiserver struct {
	Node        string   `json:"node"`
	EtcdServers []string `json:"etcdServers"`
	Port        int      `json:"port"`
	// Host is the address it serves on, as its own probes reach it.
	Host string `json:"host,omitempty"`
	// Advertise is its --advertise-address: the IP its endpoint reconciler
	// writes into default/kubernetes and its master lease ("" when unset).
	Advertise string `json:"advertise,omitempty"`
	// GraceSeconds is its manifest's terminationGracePeriodSeconds (nil:
	// unset, the kubelet gives 30 s): step 1 waits that long and more.
	GraceSeconds *int64 `json:"graceSeconds,omitempty"`
}

// Context is what steps see: the cluster, the transport, the decided values
// and the engine's reporting hooks. One Context lives for one engine run.
type Context struct {
	Cluster *config.Cluster
	Exec    Executor
	Values  Values
	// LockPath is the lock file on every control-plane and etcd node.
	LockPath string
	// PID is written into the lock (0 in plans: the console's pid is not known yet).
	PID int
	// ForceUnlock removes a stale lock in preflight (journaled).
	ForceUnlock bool
	// Nonce tells this process apart from others of the same run in the
	// node lock; OwnsRun says this process holds the state-dir lock of the
	// run's journal, so no other process of the run is alive.
	Nonce   string
	OwnsRun bool
	// fenced is set while a destructive step changes the cluster: every
	// action not marked ReadOnly is preceded by a check of the lock.
	fenced bool
	// Poll is how often Verify loops look again; Deadline bounds them.
	Poll     time.Duration
	Deadline time.Duration

	step StepID
	eng  *Engine
	mu   sync.Mutex // guards Values while nodes run in parallel

	// throughput is the rate, in bytes per second, measured copying the
	// snapshot to each member (node → rate), which sizes that member's
	// restore timeout (timeouts.go); in memory only: a resume measures
	// again or assumes slowRate.
	throughput map[string]float64
	// copyStall and fakeCopyRate are Options.CopyStall, Options.FakeCopyRate.
	copyStall    time.Duration
	fakeCopyRate int64
	// stopWait is Options.StopWait.
	stopWait time.Duration

	// kube is the Kubernetes API client of the convergence checks
	// (converge_client.go), made once from admin.conf and held in memory.
	kube *kubeAPI
	// conv is what the verify step's gate found to do (converge_fix.go).
	conv convergePlan
}

// Check reports one post-condition check (node empty: cluster-wide) that
// proves nothing about a component's state (a lock, the disk, a flag).
func (c *Context) Check(node, check string, ok bool, detail string) {
	c.CheckFact(node, check, ok, detail, Fact{})
}

// CheckFact reports a check that proves f about a component on node:
// clients fill their inventory from f, never from the check's words.
func (c *Context) CheckFact(node, check string, ok bool, detail string, f Fact) {
	r := c.report()
	r.check(CheckEvent{At: r.now(), Step: c.step, Node: node, Check: check, OK: ok, Detail: detail, Fact: f})
}

// factIf is the fact a check proves when it passes (yes) or fails (no).
func factIf(comp Component, ok bool, yes, no ComponentState) Fact {
	if ok {
		return Fact{Component: comp, State: yes}
	}
	return Fact{Component: comp, State: no}
}

// restartFact is what a look for a restarted process proves: restarted,
// or the old process still running (seen: what was found), or none.
func restartFact(comp Component, restarted bool, seen string) Fact {
	switch {
	case restarted:
		return Fact{Component: comp, State: CompRestarted}
	case seen != "":
		return Fact{Component: comp, State: CompStale}
	}
	return Fact{Component: comp, State: CompDown}
}

// componentNamed is the component whose process is called name ("" when
// it is none of them).
func componentNamed(name string) Component {
	switch c := Component(name); c {
	case CompEtcd, CompAPIServer, CompScheduler, CompControllerManager, CompKubelet:
		return c
	}
	return ""
}

// Progress reports what a node is doing now.
func (c *Context) Progress(node, action string) {
	r := c.report()
	r.emit(NodeEvent{At: r.now(), Step: c.step, Node: node, State: Running, Action: action})
}

// SaveValues journals c.Values; call it after deciding any of them.
func (c *Context) SaveValues() error {
	return c.report().saveValues(c.Values)
}

// Journal appends a record for this step (locks, force-unlock, notes).
func (c *Context) Journal(r journal.Record) error {
	r.Step = string(c.step)
	return c.report().record(r)
}

// Exec1 runs one action with its output streamed to the log and the
// transcript, and returns the result; a non-accepted result is an error
// naming the node and the action.
func (c *Context) Exec1(ctx context.Context, a Action) (nodes.Result, error) {
	return c.execTo(ctx, a, nil)
}

// execTo is Exec1 with the output going to onLine instead of the log and
// the transcript (the command itself is still recorded); nil means Exec1's.
func (c *Context) execTo(ctx context.Context, a Action, onLine func(nodes.Line)) (_ nodes.Result, err error) {
	if c.fenced && !a.ReadOnly && c.Values.NodeLock != "" {
		// Fencing: another operator's --force-unlock while this run waited
		// at a gate must stop it here, before it changes anything more.
		if err := c.fence(ctx, a.Node); err != nil {
			return nodes.Result{}, err
		}
	}
	flush := func() {}
	rep := c.report()
	if a.Long {
		p := c.startProgress(a.Node, a.What, ProgressWait, 0, c.now().Add(c.timeoutOf(a.Cmd)))
		defer func() { p.end(err) }()
	}
	rep.commandStarted(a)
	if onLine == nil {
		onLine, flush = rep.lineSink(a)
	}
	res, err := c.Exec.Run(ctx, a.Node, a.Cmd, onLine)
	flush()
	if err == nil {
		err = res.Err
	}
	rep.commandEnded(c.step, a, res, err)
	if a.Accept != nil && (err == nil || res.ExitCode > 0) {
		if aerr := a.Accept(res); aerr != nil {
			return res, &NodeError{Node: a.Node, Err: fmt.Errorf("%s: %w", a.What, aerr)}
		}
		return res, nil
	}
	if err != nil {
		return res, &NodeError{Node: a.Node, Err: fmt.Errorf("%s: %w%s", a.What, err, stderrTail(res))}
	}
	if res.ExitCode != 0 {
		return res, &NodeError{Node: a.Node, Err: fmt.Errorf("%s: exit %d%s", a.What, res.ExitCode, stderrTail(res))}
	}
	return res, nil
}

func stderrTail(res nodes.Result) string {
	s := nodes.StderrWithoutSudoWarnings(res.Stderr)
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// RunActions runs actions: nodes in parallel (up to ssh.concurrency), each
// node's actions in order, a node stopping at its first failure. The error
// joins one NodeError per failed node.
func (c *Context) RunActions(ctx context.Context, actions []Action) error {
	byNode := map[string][]Action{}
	var order []string
	for _, a := range actions {
		if _, ok := byNode[a.Node]; !ok {
			order = append(order, a.Node)
		}
		byNode[a.Node] = append(byNode[a.Node], a)
	}
	return c.ForEachNode(ctx, order, func(ctx context.Context, node string) error {
		for _, a := range byNode[node] {
			c.Progress(node, a.What)
			if _, err := c.Exec1(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForEachNode calls fn for every node, in parallel up to ssh.concurrency,
// reporting each node's state, and joins the failures.
func (c *Context) ForEachNode(ctx context.Context, names []string, fn func(ctx context.Context, node string) error) error {
	return c.forEachNode(ctx, c.Cluster.SSH.Concurrency, names, fn)
}

func (c *Context) forEachNode(ctx context.Context, limit int, names []string, fn func(ctx context.Context, node string) error) error {
	return c.parallel(ctx, limit, names, func(ctx context.Context, n string) error {
		c.nodeState(n, Running, "")
		began := time.Now()
		err := fn(ctx, n)
		var ne *NodeError
		if err != nil && !errors.As(err, &ne) {
			err = &NodeError{Node: n, Err: err}
		}
		c.report().nodeResult(c.step, n, time.Since(began), err)
		if err != nil {
			c.nodeFailed(n, err)
		} else {
			c.nodeState(n, Done, "")
		}
		return err
	})
}

// parallel calls fn for every node, at most limit (ssh.concurrency when 0)
// at once, and joins the failures. It reports no node state: for looks
// that are not a node's part of the step (the leader probe, a verify
// loop's readings), which would otherwise flood the inventory and journal.
func (c *Context) parallel(ctx context.Context, limit int, names []string, fn func(ctx context.Context, node string) error) error {
	if limit <= 0 {
		limit = c.Cluster.SSH.Concurrency // config fills it (default 32)
	}
	errs := nodes.Each(ctx, limit, names, func(ctx context.Context, _ int, n string) error { return fn(ctx, n) })
	for i, err := range errs {
		var ne *NodeError
		if err != nil && !errors.As(err, &ne) && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			errs[i] = &NodeError{Node: names[i], Err: err} // not run: ctx ended before its turn
		}
	}
	return errors.Join(errs...)
}

// nodeFailed reports a node's failure, saying whether the node could not
// be reached at all (the inventory's SSH column).
func (c *Context) nodeFailed(node string, err error) {
	r := c.report()
	ev := NodeEvent{At: r.now(), Step: c.step, Node: node, State: Failed, Err: err.Error(), Unreachable: unreachable(err)}
	var st *StopTimedOut
	if errors.As(err, &st) {
		w := st.Wait
		ev.Expired = &w
	}
	r.emit(ev)
}

func (c *Context) nodeState(node string, s State, why string) {
	r := c.report()
	r.emit(NodeEvent{At: r.now(), Step: c.step, Node: node, State: s, Err: why})
}

// WaitFor calls check every c.Poll until it returns nil or c.Deadline
// passes; the error is the last check's, so it says what never became true.
func (c *Context) WaitFor(ctx context.Context, what string, check func(ctx context.Context) error) error {
	return c.waitEvery(ctx, c.Poll, what, check)
}

// waitEvery is WaitFor with its own interval, bounded by c.Deadline.
func (c *Context) waitEvery(ctx context.Context, every time.Duration, what string, check func(ctx context.Context) error) error {
	return c.waitWithin(ctx, c.Deadline, every, what, check)
}

// waitWithin is waitEvery with its own deadline (step 1's, sized per node).
// At the deadline the error is a *deadlineErr.
func (c *Context) waitWithin(ctx context.Context, deadline, every time.Duration, what string, check func(ctx context.Context) error) error {
	wctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	// A wait that waits (its first check failed) is long work: its time
	// against its deadline goes to the clients (progress.go).
	var p *progress
	err := c.waitUntil(wctx, every, func(ctx context.Context) error {
		err := check(ctx)
		if err != nil && p == nil {
			p = c.startProgress("", what, ProgressWait, 0, c.now().Add(deadline))
		}
		return err
	})
	if p != nil {
		p.end(err)
	}
	var g *gone
	switch {
	case err == nil:
		return nil
	case errors.As(err, &g):
		return fmt.Errorf("%s: %w", what, g.error)
	}
	return &deadlineErr{what: what, after: deadline, last: err}
}

// deadlineErr is a wait that ran out: last is the last check's error, so
// it says what never became true.
type deadlineErr struct {
	what  string
	after time.Duration
	last  error
}

func (e *deadlineErr) Error() string {
	return fmt.Sprintf("%s: not true after %s: %v", e.what, e.after, e.last)
}

func (e *deadlineErr) Unwrap() error { return e.last }

// waitUntil calls check every interval until it returns nil or ctx ends;
// the error is the last meaningful check's. A node that is gone ends the
// wait at once: polling it only hides it from the operator until the
// deadline, and the gate's retry is the way to wait for it.
func (c *Context) waitUntil(ctx context.Context, every time.Duration, check func(ctx context.Context) error) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	var last error
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if unreachable(err) {
			return &gone{err}
		}
		if ctx.Err() != nil && last != nil {
			err = last // cut short by the deadline: the reading before says why
		}
		last = err
		select {
		case <-ctx.Done():
			return err
		case <-tick.C:
		}
	}
}

// gone is a wait ended because its node is unreachable, not by the deadline.
type gone struct{ error }

func (g *gone) Unwrap() error { return g.error }

// unreachable reports an error that no amount of polling fixes by itself:
// the node's SSH went silent or broke, cannot be reached or logged into, or
// offers another host key.
func unreachable(err error) bool {
	var (
		dead *nodes.NodeDeadError
		conn *nodes.ConnectError
		hk   *nodes.HostKeyError
	)
	return errors.As(err, &dead) || errors.As(err, &conn) || errors.As(err, &hk)
}
