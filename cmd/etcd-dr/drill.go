package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

func newDrillCmd() *cobra.Command {
	var lf labFlags
	var headlessFlag, keep bool
	var output string
	c := &cobra.Command{
		Use:   "drill [--nodes 3 --workers 2] [--headless]",
		Short: "Rehearse the restore on a local lab of real etcd members and kube-apiservers",
		Long: `drill brings up a fresh drill lab (in-process SSH nodes on loopback running real
etcd 3.7 members and real kube-apiserver v1.35), seeds it, takes a snapshot,
writes objects after the snapshot, then runs the whole procedure against it —
in the console, or headless — verifies the lab's safety invariants (lab verify)
and prints the scorecard. The lab is torn down at the end unless --keep.

Exit 0 only when the procedure finished and every invariant holds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if !cmd.Flags().Changed("dir") {
				dir, err := os.MkdirTemp("", "etcd-dr-drill-")
				if err != nil {
					return failErr(err)
				}
				lf.dir = dir
			}
			return drill(cmd, lf, headlessFlag, keep, output)
		},
	}
	lf.register(c)
	c.Flags().BoolVar(&headlessFlag, "headless", false, "no terminal UI: every gate confirmed with the lab's cluster name")
	c.Flags().BoolVar(&keep, "keep", false, "leave the lab running afterwards (etcd-dr lab down --dir DIR stops it)")
	outputFlag(c, &output)
	return c
}

func drill(cmd *cobra.Command, lf labFlags, headlessRun, keep bool, output string) (err error) {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	stderr := cmd.ErrOrStderr()
	exe, err := os.Executable()
	if err != nil {
		return failErr(err)
	}
	fmt.Fprintf(stderr, "drill: starting a lab in %s (first run builds etcd and kube-apiserver from the Go module proxy: minutes)\n", lf.dir)
	upStart := time.Now()
	if _, err := lab.Start(ctx, lf.dir, exe, append([]string{"lab", "serve"}, lf.args()...),
		func(s string) { fmt.Fprintln(stderr, s) }); err != nil {
		return failErr(err)
	}
	fmt.Fprintf(stderr, "drill: lab up in %s\n", time.Since(upStart).Round(time.Second))
	if !keep {
		defer func() {
			if derr := lab.Down(lf.dir); derr != nil && err == nil {
				err = failErr(derr)
			}
		}()
	} else {
		defer fmt.Fprintf(stderr, "drill: the lab keeps running: etcd-dr lab down --dir %s\n", lf.dir)
	}
	st, err := lab.ReadStatus(lf.dir)
	if err != nil {
		return failErr(err)
	}
	s, err := openSession(engineFlags{file: clusterFileOf(st)}, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	var runErr error
	resume := ""
	if keep {
		resume = "etcd-dr console -f " + clusterFileOf(st)
	}
	if headlessRun {
		sc, err := headless(ctx, s, s.cluster.Name, stderr)
		if sc != nil {
			writeScorecard(cmd.OutOrStdout(), sc, output)
		}
		runErr = runExit(err)
	} else {
		runErr = consoleRun(cmd, s, true, resume)
	}
	if runErr != nil {
		// The procedure did not finish: lab verify would only list what a
		// restore that never completed did not do.
		if keep {
			fmt.Fprintf(stderr, "drill: stopped before the end; the lab keeps running: resume with %s\n", resume)
		} else {
			fmt.Fprintln(stderr, "drill: stopped before the end; the lab is torn down (etcd-dr drill --keep keeps it, to resume)")
		}
		return runErr
	}
	return drillVerify(ctx, cmd.OutOrStdout(), lf.dir)
}

// clusterFileOf is the cluster.yaml `lab up` wrote.
func clusterFileOf(st lab.Status) string { return st.Dir + "/cluster.yaml" }

// drillVerify prints the lab's invariants; any that fails fails the drill.
func drillVerify(ctx context.Context, w io.Writer, dir string) error {
	rep, err := lab.Verify(ctx, dir)
	if err != nil {
		return failErr(fmt.Errorf("lab verify: %w", err))
	}
	fmt.Fprintln(w, "\ninvariants (lab verify):")
	writeLabReport(w, rep)
	if !rep.OK() {
		return failErr(fmt.Errorf("drill failed: invariants do not hold: %v", rep.Failed()))
	}
	return nil
}
