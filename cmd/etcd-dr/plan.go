package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/steps"
)

func newPlanCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "plan -f cluster.yaml",
		Short: "Print every step, gate and exact command per node, without touching any node",
		Long: `plan prints the whole procedure for the cluster file: each step, why it exists,
what its gate will ask, and the exact commands it will run on each node. It has
no side effects: it opens no SSH connection. Values only known after preflight
(live revision, revision bump, member URLs read from the manifests, new data dir
name) are shown as marked placeholders.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := loadCluster(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			text, err := steps.PlanText(cl, steps.Values{})
			if err != nil {
				return failErr(err)
			}
			fmt.Fprint(cmd.OutOrStdout(), text)
			fmt.Fprintln(cmd.OutOrStdout())
			if err := writeSSHResolution(cmd.Context(), cmd.OutOrStdout(), cl, ""); err != nil {
				return failErr(err)
			}
			return nil
		},
	}
	fileFlag(c, &file)
	return c
}

func newRollbackCmd() *cobra.Command {
	var f engineFlags
	var confirm string
	var headlessFlag bool
	c := &cobra.Command{
		Use:   "rollback -f cluster.yaml",
		Short: "Point etcd members back to their old data dirs (gated)",
		Long: `rollback takes the members of the last restore back to the data dirs they had
before it (kept untouched by the restore), with the same gates: stop the
apiservers, point every member back, verify one healthy cluster, start the
apiservers. It needs the cluster name typed (headless: --confirm NAME).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openSessionWith(f, cmd.ErrOrStderr(), func(o *steps.Options) {
				o.Steps, o.RunbookName = steps.RollbackRunbook(), steps.RunbookRollback
				o.Inherit = true
			})
			if err != nil {
				return err
			}
			defer s.Close()
			if !headlessFlag {
				return consoleRun(cmd, s, false, "etcd-dr rollback -f "+f.file)
			}
			if confirm != s.cluster.Name {
				return usageErr("--confirm %q does not match the cluster name in %s; nothing was done", confirm, f.file)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			sc, err := headless(ctx, s, confirm, cmd.ErrOrStderr())
			if sc != nil {
				fmt.Fprint(cmd.OutOrStdout(), sc.Text())
			}
			return runExit(err)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&headlessFlag, "headless", false, "no terminal UI")
	c.Flags().StringVar(&confirm, "confirm", "", "the cluster name (headless)")
	return c
}
