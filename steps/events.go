package steps

import "github.com/etcd-dr/etcd-dr/steps/event"

// The engine's contract with its clients lives in package event (which
// depends on nothing of the engine or the transport); the names below keep
// it spelled steps.X inside the engine.

// StepID names a step of the runbook; Runbook() is the order.
type StepID = event.StepID

const (
	Preflight         StepID = "preflight"
	StopApiservers    StepID = "stop-apiservers"
	RestoreEtcd       StepID = "restore-etcd"
	RepointApiservers StepID = "repoint-apiservers"
	StartApiservers   StepID = "start-apiservers"
	FlushCaches       StepID = "flush-caches"
	VerifyReport      StepID = "verify"
)

type (
	State          = event.State
	Event          = event.Event
	StepEvent      = event.StepEvent
	NodeEvent      = event.NodeEvent
	CheckEvent     = event.CheckEvent
	Component      = event.Component
	ComponentState = event.ComponentState
	Fact           = event.Fact
	LogKind        = event.LogKind
	LogLine        = event.LogLine
	LogEvent       = event.LogEvent
	RunbookEvent   = event.RunbookEvent
	RunbookStep    = event.RunbookStep
	Gate           = event.Gate
	Choice         = event.Choice
	NodeCommands   = event.NodeCommands
	GateEvent      = event.GateEvent
	// JournalDamageEvent: lines of a followed journal that are not records.
	JournalDamageEvent = event.JournalDamageEvent
	Decision           = event.Decision
	FileDiff           = event.FileDiff
	Wait               = event.Wait
	ProgressEvent      = event.ProgressEvent
	ProgressKind       = event.ProgressKind
)

const (
	Pending               = event.Pending
	ProgressBytes         = event.ProgressBytes
	ProgressWait          = event.ProgressWait
	WaitingGate           = event.WaitingGate
	Running               = event.Running
	Verifying             = event.Verifying
	Done                  = event.Done
	Failed                = event.Failed
	Skipped               = event.Skipped
	CompEtcd              = event.CompEtcd
	CompAPIServer         = event.CompAPIServer
	CompScheduler         = event.CompScheduler
	CompControllerManager = event.CompControllerManager
	CompKubelet           = event.CompKubelet
	CompUp                = event.CompUp
	CompDown              = event.CompDown
	CompRestarted         = event.CompRestarted
	CompStale             = event.CompStale
	LogStdout             = event.LogStdout
	LogStderr             = event.LogStderr
	LogCommand            = event.LogCommand
	LogNote               = event.LogNote
	ChoiceRetry           = event.ChoiceRetry
	ChoiceReverify        = event.ChoiceReverify
	ChoiceUndo            = event.ChoiceUndo
	ChoiceContinue        = event.ChoiceContinue
	RunbookRestore        = event.RunbookRestore
	RunbookRollback       = event.RunbookRollback
)
