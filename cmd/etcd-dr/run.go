package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/tui"
)

func (f *engineFlags) register(c *cobra.Command) {
	fileFlag(c, &f.file)
	c.Flags().BoolVar(&f.newRun, "new-run", false, "abandon an interrupted run in the journal and start afresh (journaled)")
	c.Flags().BoolVar(&f.forceUnlock, "force-unlock", false, "remove another operator's lock on the control-plane and etcd nodes (journaled)")
	f.ssh.register(c)
}

func newRunCmd() *cobra.Command {
	var f engineFlags
	var confirm, output string
	var headlessFlag bool
	var override []string
	c := &cobra.Command{
		Use:   "run -f cluster.yaml --headless --confirm NAME",
		Short: "Run the whole procedure without a terminal UI (scripted drills)",
		Long: `run executes the same engine, journal and gates as the console. Every gate is
answered by --confirm, which must equal the cluster name. A step whose
verification fails is not retried: the run aborts (exit 1) and the journal lets
'etcd-dr console' resume it where it stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !headlessFlag {
				return usageErr("run needs --headless (for the interactive console: etcd-dr console -f FILE)")
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := checkOverrides(override); err != nil {
				return err
			}
			s, err := openSession(f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.Close()
			if confirm != s.cluster.Name {
				return usageErr("--confirm %q does not match the cluster name in %s; nothing was done", confirm, f.file)
			}
			s.override = override
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			sc, err := headless(ctx, s, confirm, cmd.ErrOrStderr())
			if sc != nil {
				writeScorecard(cmd.OutOrStdout(), sc, output)
			}
			return runExit(err)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&headlessFlag, "headless", false, "no terminal UI; print events as lines")
	c.Flags().StringVar(&confirm, "confirm", "", "the cluster name, confirming every gate")
	overrideFlag(c, &override)
	outputFlag(c, &output)
	return c
}

func writeScorecard(w io.Writer, sc *steps.Scorecard, output string) {
	if output == "json" {
		_ = writeJSON(w, sc)
		return
	}
	fmt.Fprint(w, sc.Text())
}

func newConsoleCmd() *cobra.Command {
	var f engineFlags
	c := &cobra.Command{
		Use:   "console -f cluster.yaml",
		Short: "Open the interactive console and take the cluster through the restore",
		Long: `console opens the terminal UI: node inventory, one pane per step, live logs per
node, and gated confirmations. Steps 1, 2 and rollback require the cluster name
to be typed. If a run was interrupted, console resumes it from the journal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openSession(f, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer s.Close()
			return consoleRun(cmd, s, false, "etcd-dr console -f "+f.file)
		},
	}
	f.register(c)
	return c
}

// consoleRun runs the engine under the console until the engine ends or the
// operator leaves; leaving mid-run cancels the engine, whose journal keeps
// the place.
func consoleRun(cmd *cobra.Command, s *session, drill bool, resume string) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	type result struct {
		sc  *steps.Scorecard
		err error
	}
	done := make(chan result, 1)
	engCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		sc, err := s.eng.Run(engCtx)
		done <- result{sc, err}
	}()
	uiErr := tui.Run(ctx, tui.Options{Cluster: s.cluster, Events: s.eng.Events(), Decide: s.eng.Decide,
		Drill: drill, Resume: resume, Operator: s.who, Notice: sessionNotice(cmd.ErrOrStderr(), resume)})
	cancel()
	for range s.eng.Events() { // drain so the engine can finish
	}
	r := <-done
	if r.sc != nil {
		fmt.Fprint(cmd.OutOrStdout(), r.sc.Text())
	}
	var q *tui.QuitError
	if errors.As(uiErr, &q) {
		return failErr(q)
	}
	if uiErr != nil {
		return failErr(uiErr)
	}
	return runExit(r.err)
}

// sessionNotice warns, once on stderr and then in the header, when the
// console runs over SSH outside tmux or screen: a dropped connection then
// stops it mid-step. The journal keeps the place either way.
func sessionNotice(w io.Writer, resume string) string {
	if os.Getenv("SSH_CONNECTION") == "" || os.Getenv("TMUX") != "" || os.Getenv("STY") != "" {
		return ""
	}
	if resume != "" {
		fmt.Fprintf(w, "etcd-dr: not inside tmux or screen: if this SSH session drops, the console stops; resume with: %s\n", resume)
	}
	return "not in tmux/screen: a dropped SSH session stops this console"
}
