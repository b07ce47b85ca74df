package main

import (
	"github.com/spf13/cobra"
)

// fileFlag adds the -f/--file flag every cluster command takes.
func fileFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVarP(dst, "file", "f", "", "cluster file (YAML; see README \"Cluster file\")")
}

// pending marks a command whose machinery has not landed in this build: it
// says so in its help and refuses with exit 2 rather than pretend.
func pending(c *cobra.Command, reason string) *cobra.Command {
	c.Long += "\n\nNOT YET AVAILABLE in this build: " + reason
	c.RunE = func(*cobra.Command, []string) error {
		return usageErr("%s: not available in this build yet: %s", c.CommandPath(), reason)
	}
	return c
}

func newPlanCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "plan -f cluster.yaml",
		Short: "Print every step, gate and exact command per node, without touching any node",
		Long: `plan prints the whole procedure for the cluster file: each step, why it exists,
what its gate will ask, and the exact commands it will run on each node. It has
no side effects: it opens no SSH connection. Values only known after preflight
(live revision, revision bump, new data dir name) are shown as marked placeholders.`,
		Args: cobra.NoArgs,
	}
	fileFlag(c, &file)
	return pending(c, "the recovery engine (steps/) is being built")
}

func newConsoleCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "console -f cluster.yaml",
		Short: "Open the interactive console and take the cluster through the restore",
		Long: `console opens the terminal UI: node inventory, one pane per step, live logs per
node, and gated confirmations. Steps 1, 2 and rollback require the cluster name
to be typed. If a run was interrupted, console resumes it from the journal.`,
		Args: cobra.NoArgs,
	}
	fileFlag(c, &file)
	return pending(c, "the console (tui/) and engine (steps/) are being built")
}

func newRunCmd() *cobra.Command {
	var file, confirm string
	var headless bool
	c := &cobra.Command{
		Use:   "run -f cluster.yaml --headless --confirm NAME",
		Short: "Run the whole procedure without a terminal UI (scripted drills)",
		Long: `run executes the same engine, journal and gates as the console, with every gate
answered by --confirm, which must equal the cluster name.`,
		Args: cobra.NoArgs,
	}
	fileFlag(c, &file)
	c.Flags().BoolVar(&headless, "headless", false, "no terminal UI; print events as lines")
	c.Flags().StringVar(&confirm, "confirm", "", "the cluster name, confirming the destructive gates")
	return pending(c, "the recovery engine (steps/) is being built")
}

func newRollbackCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "rollback -f cluster.yaml",
		Short: "Point etcd members back to their old data dirs (gated)",
		Args:  cobra.NoArgs,
	}
	fileFlag(c, &file)
	return pending(c, "the recovery engine (steps/) is being built")
}

func newWatchCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "watch -f cluster.yaml",
		Short: "Follow a run in progress read-only, from its journal",
		Args:  cobra.NoArgs,
	}
	fileFlag(c, &file)
	return pending(c, "the console (tui/) and journal (steps/) are being built")
}

func newDrillCmd() *cobra.Command {
	var cps, workers int
	var headless, keep bool
	c := &cobra.Command{
		Use:   "drill [--nodes 3 --workers 2] [--headless]",
		Short: "Rehearse the restore on a local lab of real etcd members and kube-apiservers",
		Long: `drill brings up the embedded lab (in-process SSH nodes on loopback running real
etcd 3.7 members and real kube-apiserver v1.35), seeds it, takes a snapshot,
writes objects after the snapshot, runs the procedure (console or headless),
verifies the lab's safety invariants and prints the scorecard.`,
		Args: cobra.NoArgs,
	}
	c.Flags().IntVar(&cps, "nodes", 3, "control-plane nodes (stacked etcd)")
	c.Flags().IntVar(&workers, "workers", 2, "worker nodes")
	c.Flags().BoolVar(&headless, "headless", false, "no terminal UI")
	c.Flags().BoolVar(&keep, "keep", false, "leave the lab running afterwards")
	return pending(c, "the drill lab (nodes/lab) and engine (steps/) are being built")
}

func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Run the drill lab on its own: up, status, verify, down",
	}
	return pending(c, "the drill lab (nodes/lab) is being built")
}
