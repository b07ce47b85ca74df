package steps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The readiness report (issue 18): what the operator must know before the
// first destructive gate, each check failing closed. The anchors' issue
// trackers show what goes wrong when these are learnt after the restore:
// Secrets unreadable because the snapshot's encryption key is gone, tokens
// refused because the CA changed, an etcd that refuses a newer snapshot,
// peers refusing TLS after members moved, a keyspace over quota, and
// machine controllers deleting the machines being recovered.

// Readiness check names, as the cluster file's readiness.override names
// them (config.ReadinessChecks) and clients read them.
const (
	CheckEncryption   = "encryption-at-rest"
	CheckCAEra        = "ca-era"
	CheckEtcdVersions = "etcd-versions"
	CheckCertificates = "certificates"
	CheckQuotaDisk    = "quota-and-disk"
	CheckAutomation   = "automation"
)

// ReadinessReport is the report preflight builds before anything changes.
type ReadinessReport struct {
	Checks []ReadinessCheck `json:"checks"`
}

// ReadinessCheck is one check's result. Clients read these fields, never
// the wording.
type ReadinessCheck struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	OK    bool   `json:"ok"`
	// Warning: a finding that keeps the gate shut like a failure, but whose
	// fix is outside the cluster's nodes (pause a controller), so it is
	// acknowledged by an override once done.
	Warning bool `json:"warning,omitempty"`
	// Overridden: failed, and the cluster file's readiness.override names it.
	Overridden bool `json:"overridden,omitempty"`
	// NoOverride: this check cannot be overridden (an etcd that refuses the
	// restored data will not start whatever the operator decides).
	NoOverride bool `json:"noOverride,omitempty"`
	// Found is what the check found cluster-wide (the snapshot's side).
	Found []string `json:"found,omitempty"`
	// Nodes is what it found per node.
	Nodes []ReadinessNode `json:"nodes,omitempty"`
	// Problem says what is wrong and what to do; empty when OK.
	Problem string `json:"problem,omitempty"`
	// Skipped says why the check did not run (e.g. `check` without a local
	// snapshot); a skipped check is not OK in preflight.
	Skipped string `json:"skipped,omitempty"`
}

// ReadinessNode is one node's finding for a check.
type ReadinessNode struct {
	Node  string `json:"node"`
	OK    bool   `json:"ok"`
	Found string `json:"found"`
}

// Blocks reports whether this check keeps the step-1 gate shut.
func (rc ReadinessCheck) Blocks() bool { return !rc.OK && !rc.Overridden && rc.Skipped == "" }

func (rc *ReadinessCheck) node(node string, ok bool, format string, args ...any) {
	rc.Nodes = append(rc.Nodes, ReadinessNode{Node: node, OK: ok, Found: fmt.Sprintf(format, args...)})
	if !ok {
		rc.OK = false
	}
}

func (rc *ReadinessCheck) fail(format string, args ...any) {
	rc.OK = false
	p := fmt.Sprintf(format, args...)
	if rc.Problem != "" {
		rc.Problem += "; " + p
		return
	}
	rc.Problem = p
}

// applyOverrides marks the failed checks the cluster file overrides.
func (r *ReadinessReport) applyOverrides(overrides []string) {
	for i := range r.Checks {
		rc := &r.Checks[i]
		if !rc.OK && !rc.NoOverride && slices.Contains(overrides, rc.Name) {
			rc.Overridden = true
		}
	}
}

// problem is Problem, or when a check failed only on nodes (a file it
// could not read) what it found on them, so a refusal never says nothing.
func (rc ReadinessCheck) problem() string {
	if rc.Problem != "" {
		return rc.Problem
	}
	var out []string
	for _, n := range rc.Nodes {
		if !n.OK {
			out = append(out, n.Node+": "+n.Found)
		}
	}
	return strings.Join(out, "; ")
}

// Blocking lists the checks that keep the gate shut.
func (r ReadinessReport) Blocking() []ReadinessCheck {
	var out []ReadinessCheck
	for _, rc := range r.Checks {
		if rc.Blocks() {
			out = append(out, rc)
		}
	}
	return out
}

// Err is nil when no check keeps the gate shut; else one sentence per
// blocking check naming it, what it found and what to do.
func (r ReadinessReport) Err() error {
	var errs []error
	for _, rc := range r.Blocking() {
		how := "fix it, or add " + rc.Name + " to readiness.override in the cluster file to restore anyway (journaled)"
		if rc.NoOverride {
			how = "this check cannot be overridden"
		}
		errs = append(errs, fmt.Errorf("readiness check %s failed: %s; %s", rc.Name, rc.problem(), how))
	}
	return errors.Join(errs...)
}

// Lines renders the report for a gate, `check` and the scorecard.
func (r ReadinessReport) Lines() []string {
	var out []string
	for _, rc := range r.Checks {
		mark := "ok"
		switch {
		case rc.Skipped != "":
			mark = "skipped"
		case rc.Overridden:
			mark = "OVERRIDDEN"
		case !rc.OK && rc.Warning:
			mark = "WARNING"
		case !rc.OK:
			mark = "FAILED"
		}
		line := fmt.Sprintf("readiness %-18s %-10s %s", rc.Name, mark, rc.Title)
		if rc.Skipped != "" {
			line += ": " + rc.Skipped
		}
		out = append(out, line)
		for _, f := range rc.Found {
			out = append(out, "    "+f)
		}
		for _, n := range rc.Nodes {
			m := "ok"
			if !n.OK {
				m = "NO"
			}
			out = append(out, fmt.Sprintf("    %-12s %-3s %s", n.Node, m, n.Found))
		}
		if rc.Problem != "" {
			out = append(out, "    => "+rc.Problem)
		}
	}
	return out
}

// Text is Lines joined, for a terminal.
func (r ReadinessReport) Text() string { return strings.Join(r.Lines(), "\n") }

// Summary is the report as a gate shows it: one line per check that
// passed, and the whole finding only for a check that did not (failed,
// warned, overridden or skipped), so what the gate is about to do stays on
// the operator's first screen. The whole report is in the scorecard and
// `etcd-dr check`.
func (r ReadinessReport) Summary() []string {
	var out []string
	for _, rc := range r.Checks {
		full := ReadinessReport{Checks: []ReadinessCheck{rc}}.Lines()
		if rc.OK && rc.Skipped == "" && !rc.Overridden && len(full) > 0 {
			full = full[:1]
		}
		out = append(out, full...)
	}
	return out
}
