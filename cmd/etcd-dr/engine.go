package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// engineFlags are the flags shared by the commands that drive the engine.
type engineFlags struct {
	file        string
	newRun      bool
	forceUnlock bool
	ssh         sshFlags
}

// session is an engine with what it owns: close it when the run ends.
type session struct {
	cluster *config.Cluster
	eng     *steps.Engine
	runner  *nodes.Runner
	journal *journal.Journal
	// state is the state-dir lock: one process drives a cluster's run from
	// a state dir; released last, when this process is done with it.
	state *journal.StateLock
	who   string
	// override is --override: readiness checks a headless run overrides
	// at preflight's failure gate (override.go).
	override []string
	// closeLibLog stops routing client-go's klog into library.log (klog.go).
	closeLibLog func()
}

func (s *session) Close() {
	if s.closeLibLog != nil {
		s.closeLibLog()
	}
	s.runner.Close()
	s.journal.Close()
	s.state.Close()
}

// openSession loads the cluster file and builds the engine over SSH, with
// the journal under the cluster's state dir.
func openSession(f engineFlags, stderr io.Writer) (*session, error) {
	return openSessionWith(f, stderr, nil)
}

// openSessionWith is openSession with a hook to adjust the engine's options
// (rollback runs another runbook).
func openSessionWith(f engineFlags, stderr io.Writer, adjust func(*steps.Options)) (*session, error) {
	cl, err := loadCluster(f.file, stderr)
	if err != nil {
		return nil, err
	}
	r, err := f.ssh.newRunner(cl, stderr)
	if err != nil {
		return nil, usageErr("%v", err)
	}
	who := steps.Operator()
	// Taken before the journal is opened (opening it may repair a torn
	// line): a second console on this run is refused before it writes.
	state, err := journal.LockState(cl.State.Dir, cl.Name, journal.ThisProcess(who, time.Now()))
	if err != nil {
		r.Close()
		return nil, failErr(err)
	}
	j, err := journal.Open(cl.State.Dir, cl.Name)
	if err != nil {
		r.Close()
		state.Close()
		return nil, failErr(err)
	}
	opts := steps.Options{Cluster: cl, Exec: r, Journal: j, Who: who, NewRun: f.newRun, ForceUnlock: f.forceUnlock, StateLock: state}
	if adjust != nil {
		adjust(&opts)
	}
	eng, err := steps.New(opts)
	if err != nil {
		r.Close()
		j.Close()
		state.Close()
		return nil, failErr(err)
	}
	closeLibLog, err := openLibraryLog(j)
	if err != nil {
		r.Close()
		j.Close()
		state.Close()
		return nil, failErr(err)
	}
	return &session{cluster: cl, eng: eng, runner: r, journal: j, state: state, who: who, closeLibLog: closeLibLog}, nil
}

// headless runs the engine with steps.Headless as its client: every event a
// line on w, every gate confirmed with confirm, and a failed step backed out
// of (resumable) rather than retried.
func headless(ctx context.Context, s *session, confirm string, w io.Writer) (*steps.Scorecard, error) {
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		steps.HeadlessOverriding(s.eng, confirm, s.who, s.override, w)
	}()
	sc, err := s.eng.Run(ctx)
	<-printed
	return sc, err
}

// runExit maps the engine's outcome to the CLI's exit codes.
func runExit(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return failErr(errors.New("interrupted; the journal holds where the run stands: run the same command again to resume"))
	}
	return failErr(err)
}
