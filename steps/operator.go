package steps

import "github.com/etcd-dr/etcd-dr/steps/event"

// Operator is user@host of whoever runs etcd-dr: written to the journal,
// the transcript and the lock, and shown to a second operator who is refused.
func Operator() string { return event.Operator() }
