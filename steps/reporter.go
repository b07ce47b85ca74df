package steps

import (
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// reporter is where a Context's reports go: the engine while it runs, and
// nowhere while a plan is drawn (`etcd-dr plan`, every gate's commands).
type reporter interface {
	now() time.Time
	emit(Event)
	check(CheckEvent)
	saveValues(Values) error
	record(journal.Record) error
	commandStarted(Action)
	lineSink(Action) (sink func(nodes.Line), flush func())
	commandEnded(StepID, Action, nodes.Result, error)
	nodeResult(step StepID, node string, d time.Duration, err error)
	note(node, text string)
}

// report is c's reporter: its engine's, or the no-op one of a plan.
func (c *Context) report() reporter {
	if c.eng == nil {
		return planReporter{}
	}
	return c.eng
}

// now is the run's clock: the engine's, or the wall clock in a plan.
func (c *Context) now() time.Time { return c.report().now() }

// planReporter drops every report: a plan runs nothing and journals nothing.
type planReporter struct{}

func (planReporter) now() time.Time                                   { return time.Now().UTC() }
func (planReporter) emit(Event)                                       {}
func (planReporter) check(CheckEvent)                                 {}
func (planReporter) saveValues(Values) error                          { return nil }
func (planReporter) record(journal.Record) error                      { return nil }
func (planReporter) commandStarted(Action)                            {}
func (planReporter) lineSink(Action) (func(nodes.Line), func())       { return nil, func() {} }
func (planReporter) commandEnded(StepID, Action, nodes.Result, error) {}
func (planReporter) nodeResult(StepID, string, time.Duration, error)  {}
func (planReporter) note(string, string)                              {}

// note records one line of the engine's own in the transcript and the log
// pane (a summary in place of output kept out of them).
func (e *Engine) note(node, text string) {
	at := e.now()
	if e.tr != nil {
		_ = e.tr.Note(at, node, text) // a full disk must not stop a restore midway
	}
	e.logs.add(LogLine{At: at, Node: node, Kind: LogNote, Text: text})
}
