package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/tui"
)

// watchEvery is how often watch looks at the journal: often enough for a
// second pair of eyes, rare enough to cost nothing on the bastion.
const watchEvery = 500 * time.Millisecond

func newWatchCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "watch -f cluster.yaml",
		Short: "Follow a run in progress read-only, from its journal",
		Long: `watch shows the console's screen for the run the operator is driving, read
from the journal and transcript under state.dir: steps, nodes, gates decided,
every check, the gate in front of the operator, and every command's output.
It answers no gate and changes nothing; quitting it leaves the run alone.
(A journal written before checks and gates were journaled shows the
inventory's component columns as "?".)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := loadCluster(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			path := journal.FilePath(cl.State.Dir, cl.Name)
			if _, err := os.Stat(path); err != nil {
				return failErr(fmt.Errorf("no journal to follow at %s (%v): has the operator started "+
					"`etcd-dr console -f FILE`? Is state.dir in %s the one on their bastion?", path, err, file))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch := make(chan steps.Event)
			w := newJournalWatch(path)
			go w.follow(ctx, ch, watchEvery)
			err = tui.Run(ctx, tui.Options{Cluster: cl, Events: ch, ReadOnly: true})
			cancel()
			var q *tui.QuitError
			if errors.As(err, &q) {
				return nil // a watcher leaving changes nothing
			}
			if err != nil {
				return failErr(err)
			}
			return failErr(w.err)
		},
	}
	fileFlag(c, &file)
	return c
}

// journalWatch turns a growing journal and transcript into the engine's
// events, so watch shows the very screen the operator's console shows.
type journalWatch struct {
	dir     string
	path    string
	jt, tt  *journal.Tail
	run     string
	started bool  // the replay found where the last run starts
	err     error // why following stopped early, said after the screen closes
}

func newJournalWatch(path string) *journalWatch {
	return &journalWatch{dir: filepath.Dir(path), path: path}
}

// follow sends events until the run ends (then closes ch) or ctx ends.
func (w *journalWatch) follow(ctx context.Context, ch chan<- steps.Event, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		evs, ended, err := w.poll()
		for _, ev := range evs {
			select {
			case ch <- ev:
			case <-ctx.Done():
				return
			}
		}
		if ended || err != nil {
			w.err = err
			close(ch)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// poll reads what was appended since the last call: the transcript's lines
// first, so a node's "$ command" comes before the node's result.
func (w *journalWatch) poll() (evs []steps.Event, ended bool, err error) {
	if !w.started {
		// Follow from the last run's start, however long the journal: an
		// old run's "VERIFY PASSED" must never stand for a live run.
		off, ok, err := journal.LastRunOffset(w.path)
		if err != nil || !ok {
			return nil, false, err
		}
		w.jt, w.started = journal.NewTailAt(w.path, off), true
	}
	recs, err := w.jt.Records()
	if err != nil {
		return nil, false, err
	}
	var out []steps.Event
	for _, r := range recs {
		if r.Kind == journal.KindRunStart && r.Run != w.run {
			w.run, w.tt = r.Run, journal.NewTail(journal.TranscriptPath(w.dir, r.Run))
		}
		ev, end := recordEvents(r)
		out = append(out, ev...)
		ended = ended || end
	}
	if w.tt != nil {
		lines, terr := w.tt.Lines()
		if le := transcriptEvent(lines); le != nil {
			evs = append(evs, *le)
		}
		err = terr
	}
	return append(evs, out...), ended, err
}

// recordEvents is the event a journal record stands for. A journal written
// before gates were journaled when opened has none: after a step is done the
// next one is shown waiting at its gate, which a gate-open record then fills.
func recordEvents(r journal.Record) ([]steps.Event, bool) {
	id := steps.StepID(r.Step)
	switch r.Kind {
	case journal.KindCheck:
		return []steps.Event{steps.CheckEvent{At: r.At, Step: id, Node: r.Node, Check: r.Check,
			OK: r.State == "ok", Detail: r.Why,
			Fact: steps.Fact{Component: steps.Component(r.Component), State: steps.ComponentState(r.Proves)}}}, false
	case journal.KindGateOpen:
		g := steps.Gate{Step: id, Title: r.Why}
		if err := json.Unmarshal(r.Offer, &g); err != nil || g.Step != id {
			g = steps.Gate{Step: id, Title: r.Why} // the title alone still says where the run waits
		}
		return []steps.Event{steps.GateEvent{At: r.At, Gate: g}}, false
	case journal.KindStep:
		st := stateNamed(r.State)
		evs := []steps.Event{steps.StepEvent{At: r.At, Step: id, State: st, Why: r.Why}}
		if next, ok := nextStep(id); ok && (st == steps.Done || st == steps.Skipped) {
			evs = append(evs, steps.StepEvent{At: r.At, Step: next, State: steps.WaitingGate,
				Why: "waiting for the operator at the gate"})
		}
		return evs, false
	case journal.KindNode:
		ne := steps.NodeEvent{At: r.At, Step: id, Node: r.Node, State: steps.Done}
		if r.State != "ok" {
			ne.State, ne.Err = steps.Failed, r.Why
		}
		return []steps.Event{ne}, false
	case journal.KindRunEnd:
		return nil, true
	}
	return nil, false
}

func stateNamed(name string) steps.State {
	for s := steps.Pending; s <= steps.Skipped; s++ {
		if s.String() == name {
			return s
		}
	}
	return steps.Pending
}

func nextStep(id steps.StepID) (steps.StepID, bool) {
	for i, s := range steps.Order[:len(steps.Order)-1] {
		if s == id {
			return steps.Order[i+1], true
		}
	}
	return "", false
}

// transcriptEvent turns transcript lines into one log event, written the way
// the engine logs them ("$ command" before its output).
func transcriptEvent(lines []string) *steps.LogEvent {
	var out []steps.LogLine
	for _, s := range lines {
		l, ok := journal.ParseTranscriptLine(s)
		if !ok || l.Node == "-" {
			continue
		}
		nl := steps.LogLine{Node: l.Node, Kind: steps.LogStdout, At: l.At, Text: l.Text}
		switch l.Mark {
		case journal.MarkCommand:
			nl.Kind = steps.LogCommand
		case journal.MarkStderr:
			nl.Kind = steps.LogStderr
		case journal.MarkNote:
			nl.Kind = steps.LogNote
		}
		out = append(out, nl)
	}
	if len(out) == 0 {
		return nil
	}
	return &steps.LogEvent{At: out[len(out)-1].At, Lines: out}
}
