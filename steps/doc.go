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
package steps
