// Package steps is the recovery engine: the runbook as data (one file per
// step, see Runbook), a small generic engine that offers a gate before each
// step, runs it on the nodes in parallel, and keeps the next gate shut until
// the step's post-condition is verified; the journal that lets a killed
// console resume with the same decided values; the lock that keeps two
// operators from restoring the same cluster at once; and `plan`, the whole
// procedure as text without touching a node.
//
// The engine knows nothing about etcd or Kubernetes: everything specific
// lives in the Step values. Clients (the console, the headless printer)
// read Events and answer gates with Decide.
//
// Helpers several steps share live beside each other, not in whichever
// step's file used them first: shared.go (member lookups, node names),
// cmds.go (commands and scripts), etcd_member.go (stop, repoint and start
// one member), snapshot_location.go (where the snapshot lies, in one
// vocabulary). A step's actions that the plan lists and the run executes
// are named fields (restoreActs, pointBackActs, ...), never list positions.
// A Context reports through its reporter (reporter.go): the engine's, or a
// no-op while a plan is drawn.
package steps
