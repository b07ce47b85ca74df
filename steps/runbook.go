package steps

import (
	"encoding/json"
	"time"
)

// Runbook is the procedure, in order. Reading it is reading the runbook;
// each step lives in its own file. listed gives each its short title and
// number, which the engine announces as the run's first event.
func Runbook() []Step {
	return []Step{
		listed(PreflightStep(), "preflight", 0),                  // preflight.go: read-only, decides values, takes the lock
		listed(stopWithEstimate(), "stop apiservers", 1),         // stop_apiservers.go, with preflight's revision estimate (bump_at_stop.go)
		listed(RestoreEtcdStep(), "restore etcd", 2),             // restore_etcd.go
		listed(RepointApiserversStep(), "repoint apiservers", 3), // repoint_apiservers.go
		listed(StartApiserversStep(), "start apiservers", 4),     // start_apiservers.go
		listed(FlushCachesStep(), "flush caches", 5),             // flush_caches.go
		listed(VerifyReportStep(), "verify and report", 0),       // verify.go
	}
}

// RollbackRunbook points every member back at the data dir it had before
// the restore, with the same care as the restore: apiservers stopped first,
// caches flushed after. It runs with Options.Inherit, on the values the last
// run journaled (members, old data dirs, original --etcd-servers).
func RollbackRunbook() []Step {
	s := rollbackSteps() // rollback.go
	shorts := map[StepID]string{RollbackCheck: "check old data dirs", StopApiservers: "stop apiservers",
		RollbackEtcd: "etcd to old data", RollbackEtcdServers: "old --etcd-servers", StartApiservers: "start apiservers",
		FlushCaches: "flush caches", RollbackDone: "release the lock"}
	for i := range s {
		n := i // the check before and the release after are unnumbered, as preflight and verify are
		if i == len(s)-1 {
			n = 0
		}
		s[i] = listed(s[i], shorts[s[i].ID], n)
	}
	return s
}

func listed(s Step, short string, number int) Step {
	s.Short, s.Number = short, number
	return s
}

// Announce is the runbook as its run's first event.
func Announce(name string, steps []Step, at time.Time) RunbookEvent {
	ev := RunbookEvent{At: at, Name: name}
	for _, s := range steps {
		short := s.Short
		if short == "" {
			short = s.Title
		}
		ev.Steps = append(ev.Steps, RunbookStep{ID: s.ID, Title: s.Title, Short: short, Number: s.Number, Destructive: s.Destructive})
	}
	return ev
}

// runbookJSON is ev as the run-start record stores it.
func runbookJSON(ev RunbookEvent) json.RawMessage {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil // plain data: cannot happen
	}
	return b
}
