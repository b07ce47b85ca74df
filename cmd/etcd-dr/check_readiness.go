package main

import (
	"context"
	"fmt"
	"io"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// addReadiness builds preflight's readiness report read-only once every
// node answered (the inventory needs them all); nil otherwise, the SSH or
// sudo problem being shown already. A report that cannot be built is a
// problem on no particular node: it is returned as a failed check.
func addReadiness(ctx context.Context, cl *config.Cluster, exec steps.Executor, rows []nodeCheck) *steps.ReadinessReport {
	if failedProbes(rows) > 0 {
		return nil
	}
	rep, err := steps.CheckReadiness(ctx, cl, exec)
	if err != nil {
		return &steps.ReadinessReport{Checks: []steps.ReadinessCheck{{Name: "inventory", Title: "read the nodes for the readiness report",
			NoOverride: true, Problem: steps.Clean(err.Error())}}}
	}
	return &rep
}

// writeReadiness prints the report under the node table.
func writeReadiness(w io.Writer, rep *steps.ReadinessReport) {
	if rep == nil {
		return
	}
	fmt.Fprintf(w, "\nReadiness before step 1:\n%s\n", steps.Clean(rep.Text()))
}

// readinessErr is the report's verdict: check fails as preflight would.
func readinessErr(rep *steps.ReadinessReport) error {
	if rep == nil {
		return nil
	}
	return rep.Err()
}
