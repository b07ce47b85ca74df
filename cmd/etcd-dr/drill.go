package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
)

func newDrillCmd() *cobra.Command {
	var lf labFlags
	var headlessFlag, keep bool
	var output string
	var faultFlags, override []string
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
			if len(faultFlags) == 1 && faultFlags[0] == "list" {
				writeFaultList(cmd.OutOrStdout())
				return nil
			}
			faults, err := parseFaults(faultFlags)
			if err != nil {
				return err
			}
			if err := checkOverrides(override); err != nil {
				return err
			}
			if len(override) > 0 && !headlessFlag {
				return usageErr("--override is for --headless; in the console, type override CHECK at preflight's failure gate")
			}
			ownDir := !cmd.Flags().Changed("dir")
			if ownDir {
				dir, err := os.MkdirTemp("", "etcd-dr-drill-")
				if err != nil {
					return failErr(err)
				}
				lf.dir = dir
			}
			err = drill(cmd, lf, headlessFlag, keep, output, faults, override)
			if ownDir && !keep {
				removeDrillDir(cmd.ErrOrStderr(), lf.dir, err)
			}
			return err
		},
	}
	lf.register(c)
	c.Flags().BoolVar(&headlessFlag, "headless", false, "no terminal UI: every gate confirmed with the lab's cluster name")
	c.Flags().BoolVar(&keep, "keep", false, "leave the lab running afterwards (etcd-dr lab down --dir DIR stops it)")
	outputFlag(c, &output)
	c.Flags().StringSliceVar(&faultFlags, "fault", nil, "inject lab faults: NAME[@STEP][@NODE][,...] (a game day); --fault list lists them")
	overrideFlag(c, &override)
	return c
}

func drill(cmd *cobra.Command, lf labFlags, headlessRun, keep bool, output string, faults []faultSpec, override []string) (err error) {
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
	// The lab's invariants are checked in the verify step, while the console
	// is still open, so its scorecard shows them.
	df := &drillFaults{dir: lf.dir, specs: faults}
	if err := df.injectNow(ctx); err != nil {
		return err
	}
	inv := labInvariants{faults: df}
	s, err := openSessionWith(engineFlags{file: clusterFileOf(st)}, stderr, func(o *steps.Options) {
		o.Steps = inv.wrap(df.wrap(steps.Runbook()), lf.dir)
	})
	if err != nil {
		return err
	}
	defer s.Close()
	var runErr error
	resume := ""
	if keep {
		resume = "etcd-dr console -f " + clusterFileOf(st)
	}
	var sc *steps.Scorecard
	if headlessRun {
		s.override = override
		sc, err = headless(ctx, s, s.cluster.Name, stderr)
		runErr = runExit(err)
	} else {
		runErr = consoleRun(cmd, s, true, resume)
	}
	out := drillOutput{w: cmd.OutOrStdout(), json: output == "json", sc: sc, faults: df.records()}
	if inv.ran && !inv.rep.OK() {
		out.write(&inv.rep)
		return failErr(fmt.Errorf("drill failed: invariants do not hold: %v", inv.rep.Failed()))
	}
	if runErr != nil {
		// The procedure did not finish: lab verify would only list what a
		// restore that never completed did not do.
		out.write(nil)
		if keep {
			fmt.Fprintf(stderr, "drill: stopped before the end; the lab keeps running: resume with %s\n", resume)
		} else {
			fmt.Fprintln(stderr, "drill: stopped before the end; the lab is torn down (etcd-dr drill --keep keeps it, to resume)")
		}
		return runErr
	}
	if inv.ran {
		out.write(&inv.rep)
		return nil
	}
	// Resumed past the verify step: nothing checked them in this session.
	rep, err := lab.Verify(ctx, lf.dir)
	if err != nil {
		out.write(nil)
		return failErr(fmt.Errorf("lab verify: %w", err))
	}
	out.write(&rep)
	if !rep.OK() {
		return failErr(fmt.Errorf("drill failed: invariants do not hold: %v", rep.Failed()))
	}
	return nil
}

// drillOutput is what a drill prints on stdout: the scorecard (headless) and
// the lab's invariants. With -o json it is ONE document, the scorecard's
// fields and "invariants", so a CI job can parse stdout whole; progress goes
// to stderr.
type drillOutput struct {
	w    io.Writer
	json bool
	sc   *steps.Scorecard
	// faults are the game day's injected faults and how each went.
	faults []faultRecord
}

func (o drillOutput) write(rep *lab.Report) {
	if o.json {
		if o.sc == nil && rep == nil {
			return
		}
		doc := struct {
			*steps.Scorecard
			Invariants *lab.Report   `json:"invariants,omitempty"`
			Faults     []faultRecord `json:"faults,omitempty"`
		}{o.sc, rep, o.faults}
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(doc)
		return
	}
	if o.sc != nil {
		writeScorecard(o.w, o.sc, "text")
	}
	if len(o.faults) > 0 {
		fmt.Fprintln(o.w, "\nfaults (game day):")
		for _, f := range o.faults {
			fmt.Fprintln(o.w, "  "+f.line())
			if f.Failed != "" {
				fmt.Fprintln(o.w, "    failed with: "+f.detail())
			}
		}
	}
	if rep != nil {
		fmt.Fprintln(o.w, "\ninvariants (lab verify):")
		writeLabReport(o.w, *rep)
	}
}

// labInvariants runs lab verify at the end of the verify step, so the drill
// checks its invariants while the console is open and shows them on the
// scorecard; a broken one fails the step (retry, re-verify or abort).
type labInvariants struct {
	rep    lab.Report
	ran    bool
	faults *drillFaults // their lines go on the scorecard too
}

func (li *labInvariants) wrap(runbook []steps.Step, dir string) []steps.Step {
	for i := range runbook {
		if runbook[i].ID != steps.VerifyReport {
			continue
		}
		verify := runbook[i].Verify
		runbook[i].Verify = func(ctx context.Context, c *steps.Context) error {
			if verify != nil {
				if err := verify(ctx, c); err != nil {
					return err
				}
			}
			rep, err := lab.Verify(ctx, dir)
			if err != nil {
				return fmt.Errorf("lab verify: %w", err)
			}
			li.rep, li.ran = rep, true
			for _, f := range li.faults.records() {
				c.Check("", f.line(), f.Passed, f.detail())
			}
			for _, ch := range rep.Checks {
				c.Check("", ch.Name, ch.OK, ch.Detail)
			}
			if !rep.OK() {
				return fmt.Errorf("the drill's invariants do not hold: %s (each one's detail is on the scorecard; "+
					"etcd-dr lab verify --dir %s checks again)", strings.Join(rep.Failed(), ", "), dir)
			}
			return nil
		}
	}
	return runbook
}

// removeDrillDir removes the temporary directory a drill made for its lab
// once the lab is down. A drill that failed keeps it: its journal,
// transcript and etcd logs are what tells why.
func removeDrillDir(w io.Writer, dir string, drillErr error) {
	if drillErr != nil {
		fmt.Fprintf(w, "drill: the lab's files (journal, transcript, logs) stay in %s to read why; remove it when done\n", dir)
		return
	}
	if err := lab.Leftovers(dir); err != nil {
		fmt.Fprintf(w, "drill: %s is kept: %v\n", dir, err)
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintf(w, "drill: could not remove %s: %v\n", dir, err)
		return
	}
	fmt.Fprintf(w, "drill: removed the lab's directory %s (etcd-dr drill --keep keeps it)\n", dir)
}

// clusterFileOf is the cluster.yaml `lab up` wrote.
func clusterFileOf(st lab.Status) string { return st.Dir + "/cluster.yaml" }
