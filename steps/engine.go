package steps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/steps/termsafe"
)

// ErrAborted is returned by Run when the operator backs out at a gate. The
// run stays open in the journal: the next start resumes it.
var ErrAborted = errors.New("aborted by the operator; the run stays open in the journal and resumes at the next start")

// AbortError is a back-out that was not the operator's own choice (the
// headless runner stopping at a gate it cannot answer): it says what
// happened instead of blaming the operator. errors.Is(err, ErrAborted) holds.
type AbortError struct {
	Step StepID
	Why  string
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("stopped at %s: %s; the run stays open in the journal and resumes at the next start", e.Step, e.Why)
}

// Is makes an AbortError an ErrAborted for callers that only ask whether
// the run stopped resumably.
func (e *AbortError) Is(target error) bool { return target == ErrAborted }

// Options configure an Engine.
type Options struct {
	Cluster *config.Cluster
	Exec    Executor
	Journal *journal.Journal
	// Steps defaults to Runbook(); RunbookName names them in the run's
	// first event (default RunbookRestore).
	Steps       []Step
	RunbookName string
	// Who is user@host, written to the journal, transcript and lock.
	Who string
	// NewRun abandons an open run in the journal (journaled) and starts afresh.
	NewRun bool
	// Inherit starts a new run on the values the journal's last run decided
	// (rollback: members, old data dirs); an open run is abandoned.
	Inherit bool
	// ForceUnlock removes an existing lock in preflight (journaled).
	ForceUnlock bool
	// StateLock is the state-dir lock held by this process for Journal's
	// directory (journal.LockState). Holding it proves no other process
	// drives this run, so a resumed run may take over its own node lock.
	StateLock *journal.StateLock
	// LockPath defaults to DefaultLockPath.
	LockPath string
	// Poll and Deadline bound verify loops (defaults 1s, 2m).
	Poll, Deadline time.Duration
	// StopWait, when set, is step 1's wait for each kube-apiserver to be
	// gone, instead of the wait sized from its manifest's grace period
	// (stop_wait.go): tests of a stop that never comes set it short.
	StopWait time.Duration
	// LogEvery is how often log lines are batched to clients (default 50ms).
	LogEvery time.Duration
	Now      func() time.Time
	// CopyStall is how long a snapshot copy may move no byte before it
	// fails (default copyStall); tests shorten it.
	CopyStall time.Duration
	// FakeCopyRate, when set, is a FAKE: it slows the snapshot copy to
	// members to this many bytes per second on the bastion's side, to
	// rehearse a slow link (tests, drills); never set on a real run.
	FakeCopyRate int64
}

// Engine takes a cluster through the runbook, one gated step at a time.
type Engine struct {
	opts      Options
	steps     []Step
	cx        *Context
	q         *eventQueue
	logs      logBatcher
	decisions chan Decision
	tr        *journal.Transcript
	running   sync.Mutex // one Run at a time
	phase     State      // Running or Verifying; read by node journaling
	// diffs are the file diffs each step's own gate showed, shown again
	// at its failure gate (gate.go).
	diffs map[StepID][]FileDiff
}

// New checks opts and returns an engine ready to Run.
func New(opts Options) (*Engine, error) {
	switch {
	case opts.Cluster == nil:
		return nil, errors.New("engine: no cluster")
	case opts.Exec == nil:
		return nil, errors.New("engine: no executor")
	case opts.Journal == nil:
		return nil, errors.New("engine: no journal")
	}
	if opts.Steps == nil {
		opts.Steps = Runbook()
	}
	if opts.RunbookName == "" {
		opts.RunbookName = RunbookRestore
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Deadline <= 0 {
		opts.Deadline = 2 * time.Minute
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = 50 * time.Millisecond
	}
	if opts.LockPath == "" {
		opts.LockPath = DefaultLockPath
	}
	e := &Engine{opts: opts, steps: opts.Steps, q: newEventQueue(), decisions: make(chan Decision, 8)}
	e.cx = &Context{Cluster: opts.Cluster, Exec: opts.Exec, LockPath: opts.LockPath, ForceUnlock: opts.ForceUnlock, PID: os.Getpid(),
		Nonce: randomHex(8), OwnsRun: opts.StateLock.Held() && opts.StateLock.Dir() == opts.Journal.DirPath(),
		Poll: opts.Poll, Deadline: opts.Deadline, eng: e, copyStall: opts.CopyStall, fakeCopyRate: opts.FakeCopyRate,
		stopWait: opts.StopWait}
	return e, nil
}

// Events is the stream of what happens, closed when Run returns and every
// queued event is delivered. A client must read it until it is closed.
func (e *Engine) Events() <-chan Event { return e.q.out }

// Decide answers the gate the engine is waiting on.
func (e *Engine) Decide(d Decision) {
	select {
	case e.decisions <- d:
	default: // eight unread decisions: the client is repeating itself
	}
}

// Values returns the values decided by the run; call it after Run returns
// (the engine changes them while it runs).
func (e *Engine) Values() Values { return e.cx.Values }

func (e *Engine) now() time.Time { return e.opts.Now().UTC() }

// emit sends ev to the clients with its text cleaned: the console, the
// headless printer and JSON all read events, so this is their one exit.
func (e *Engine) emit(ev Event) { e.q.push(cleanEvent(ev)) }

// Run takes the cluster through every step from where the journal left off
// and returns the scorecard. It returns ErrAborted when the operator backs
// out, an *AbortError (also ErrAborted) when a client backs out on its own.
func (e *Engine) Run(ctx context.Context) (sc *Scorecard, err error) {
	defer func() {
		if err != nil {
			err = &cleanError{err}
		}
	}()
	if !e.running.TryLock() {
		return nil, errors.New("engine: already running")
	}
	defer e.running.Unlock()
	defer e.q.close()
	stopLogs := e.startLogFlusher()
	defer stopLogs()

	announced := Announce(e.opts.RunbookName, e.steps, e.now())
	e.emit(announced) // the first event: clients list the steps from it
	rp, err := e.start(announced)
	if err != nil {
		return nil, err
	}
	tr, err := e.opts.Journal.OpenTranscript(e.cx.Values.Run, e.opts.Who)
	if err != nil {
		return nil, err
	}
	e.tr = tr
	defer tr.Close()

	for i := 0; i < rp.next; i++ {
		e.emit(StepEvent{At: e.now(), Step: e.steps[i].ID, State: Done, Why: "done before this session (journal)"})
	}
	if rp.reverify >= 0 {
		if err := e.runStep(ctx, e.steps[rp.reverify], true); err != nil {
			return e.Scorecard(), err
		}
	}
	for _, s := range e.steps[rp.next:] {
		if err := e.runStep(ctx, s, false); err != nil {
			return e.Scorecard(), err
		}
	}
	if err := e.record(journal.Record{Kind: journal.KindRunEnd, State: "done"}); err != nil {
		return e.Scorecard(), err
	}
	return e.Scorecard(), nil
}

// start opens a new run or resumes the open one from the journal.
func (e *Engine) start(announced RunbookEvent) (resumePoint, error) {
	recs, err := e.lastRun()
	if err != nil {
		return resumePoint{}, err
	}
	rp, err := replay(recs, e.steps)
	if err != nil {
		return rp, err
	}
	if rp.open && (e.opts.NewRun || e.opts.Inherit) {
		e.cx.Values = rp.values
		if err := e.record(journal.Record{Kind: journal.KindRunEnd, State: "abandoned", Who: e.opts.Who,
			Why: "a new run was asked for (new run or rollback)"}); err != nil {
			return rp, err
		}
		rp = resumePoint{reverify: -1}
	}
	if rp.open {
		e.cx.Values = rp.values
		return rp, e.record(journal.Record{Kind: journal.KindStep, Who: e.opts.Who, State: "resumed",
			Why: fmt.Sprintf("resumed by %s at step %d", e.opts.Who, rp.next)})
	}
	v := Values{}
	if e.opts.Inherit {
		if v, err = e.inherit(); err != nil {
			return rp, err
		}
	}
	v.Run, v.Who, v.StartedAt = newRunID(e.now()), e.opts.Who, e.now()
	e.cx.Values = v
	if err := e.record(journal.Record{Kind: journal.KindRunStart, Who: e.opts.Who, Runbook: runbookJSON(announced)}); err != nil {
		return rp, err
	}
	return resumePoint{reverify: -1}, e.saveValues(e.cx.Values)
}

func newRunID(now time.Time) string {
	return now.Format("20060102T150405Z") + "-" + randomHex(3)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// record appends r to the journal, stamped with this run.
func (e *Engine) record(r journal.Record) error {
	r.Run = e.cx.Values.Run
	r.Why = Clean(r.Why) // a node's failure quotes what it printed
	if r.At.IsZero() {
		r.At = e.now()
	}
	return e.opts.Journal.Append(r)
}

func (e *Engine) saveValues(v Values) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode values: %w", err)
	}
	return e.record(journal.Record{Kind: journal.KindValues, Values: b})
}

// acceptPartial records that the operator accepted step without nodes,
// whichever step it is: the scorecard lists them under it.
func (e *Engine) acceptPartial(step StepID, nodes []string) error {
	v := &e.cx.Values
	if v.Accepted == nil {
		v.Accepted = map[StepID][]string{}
	}
	v.Accepted[step] = append(v.Accepted[step], nodes...)
	return e.saveValues(*v)
}

func (e *Engine) stepState(s Step, st State, why string) error {
	e.emit(StepEvent{At: e.now(), Step: s.ID, State: st, Why: why})
	if st == WaitingGate || st == Pending {
		return nil
	}
	return e.record(journal.Record{Kind: journal.KindStep, Step: string(s.ID), State: st.String(), Why: why})
}

func (e *Engine) startLogFlusher() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(e.opts.LogEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				e.flushLogs()
				return
			case <-t.C:
				e.flushLogs()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (e *Engine) flushLogs() {
	for _, ev := range e.logs.flush(e.now()) {
		e.emit(ev)
	}
}

// commandStarted writes the command (redacted) to the transcript and the log.
func (e *Engine) commandStarted(a Action) {
	line := CleanLine(CommandLine(a.Cmd, true))
	at := e.now()
	if e.tr != nil {
		_ = e.tr.Command(at, a.Node, line) // a full disk must not stop a restore midway
	}
	e.logs.add(LogLine{At: at, Node: a.Node, Kind: LogCommand, Text: line})
}

// lineSink scrubs a command's output (one scrubber per stream: a PEM block
// or an env spans lines of one stream) and sends it to the transcript and
// the log; flush releases lines still held when the command ends.
func (e *Engine) lineSink(a Action) (sink func(nodes.Line), flush func()) {
	var mu sync.Mutex
	streams := map[nodes.Stream]*streamScrub{}
	deliver := func(out []nodes.Line) {
		for _, l := range out {
			if e.tr != nil {
				_ = e.tr.Line(l.Time, l.Node, l.Stream.String(), l.Text)
			}
			e.logs.add(logLineOf(l))
		}
	}
	sink = func(l nodes.Line) {
		if a.Quiet && l.Stream == nodes.Stdout {
			return // data for the engine (a page of key names): the caller records a summary
		}
		l.Node = a.Node
		if l.Time.IsZero() {
			l.Time = e.now()
		}
		l.Text = Redact(l.Text, a.Cmd.Redact)
		mu.Lock()
		st := streams[l.Stream]
		if st == nil {
			st = &streamScrub{}
			streams[l.Stream] = st
		}
		out := st.push(l)
		mu.Unlock()
		deliver(out)
	}
	flush = func() {
		mu.Lock()
		var out []nodes.Line
		for _, st := range streams {
			out = append(out, st.flush()...)
		}
		mu.Unlock()
		deliver(out)
	}
	return sink, flush
}

// logLineOf is a node's output line as the engine's clients see it: the
// transport's stream becomes a LogKind.
func logLineOf(l nodes.Line) LogLine {
	k := LogStdout
	if l.Stream == nodes.Stderr {
		k = LogStderr
	}
	return LogLine{At: l.Time, Node: l.Node, Kind: k, Text: l.Text}
}

// streamScrub is a scrubber over nodes.Lines: a line held by the scrubber
// (an env value waiting for its name) keeps its time and stream.
type streamScrub struct {
	sc      scrubber
	pending []nodes.Line
	texts   []string
}

func (s *streamScrub) push(l nodes.Line) []nodes.Line {
	s.pending = append(s.pending, l)
	s.texts = s.sc.push(l.Text, s.texts[:0])
	return s.take()
}

func (s *streamScrub) flush() []nodes.Line {
	s.texts = s.sc.flush(s.texts[:0])
	return s.take()
}

// take pairs the scrubbed texts with the oldest pending lines: the
// scrubber returns lines in order, one for each line it was given.
func (s *streamScrub) take() []nodes.Line {
	n := len(s.texts)
	if n == 0 {
		return nil
	}
	out := make([]nodes.Line, n)
	for i := range n {
		out[i] = s.pending[i]
		out[i].Text = termsafe.Line(s.texts[i])
	}
	s.pending = s.pending[n:]
	return out
}

func (e *Engine) commandEnded(step StepID, a Action, res nodes.Result, err error) {
	note := fmt.Sprintf("exit %d after %s", res.ExitCode, res.Duration.Round(time.Millisecond))
	if err != nil {
		note += ": " + Clean(Redact(err.Error(), a.Cmd.Redact))
	}
	if e.tr != nil {
		_ = e.tr.Note(e.now(), a.Node, note)
	}
}

// check reports a post-condition check and journals it, so `etcd-dr watch`
// fills in the inventory's component columns as the console does.
func (e *Engine) check(ev CheckEvent) {
	ev.Detail = Clean(ev.Detail) // the record below carries it too
	e.emit(ev)
	r := journal.Record{At: ev.At, Kind: journal.KindCheck, Step: string(ev.Step), Node: ev.Node, Check: ev.Check,
		State: "ok", Why: ev.Detail, Component: string(ev.Fact.Component), Proves: string(ev.Fact.State)}
	if !ev.OK {
		r.State = "failed"
	}
	_ = e.record(r) // a check is also in the step's outcome: a full disk must not stop a restore midway
}

// gateOpened journals the gate put in front of the operator.
func (e *Engine) gateOpened(ev GateEvent) {
	b, err := json.Marshal(ev.Gate)
	if err != nil {
		return // a Gate is plain data: cannot happen
	}
	_ = e.record(journal.Record{At: ev.At, Kind: journal.KindGateOpen, Step: string(ev.Gate.Step), Why: ev.Gate.Title, Offer: b})
}

// nodeResult journals one node's outcome of a step's Run.
func (e *Engine) nodeResult(step StepID, node string, d time.Duration, err error) {
	if e.phase != Running {
		return
	}
	r := journal.Record{Kind: journal.KindNode, Step: string(step), Node: node, State: "ok", Ms: d.Milliseconds()}
	if err != nil {
		r.State, r.Why = "failed", err.Error()
	}
	_ = e.record(r) // the step record that follows carries the outcome too
}
