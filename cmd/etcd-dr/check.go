package main

import "github.com/spf13/cobra"

func newCheckCmd() *cobra.Command {
	var file, output string
	var printConfig bool
	c := &cobra.Command{
		Use:   "check -f cluster.yaml",
		Short: "Validate the cluster file and run the read-only preflight on every node",
		Long: `check validates the cluster file (every problem at once, as file:line:col), then
reaches every node over SSH with strict host-key checking and reports, per node:
SSH reachability and latency, passwordless sudo, OS, and free disk on etcd nodes.
It changes nothing. Exit 0 only if every node passes.`,
		Args: cobra.NoArgs,
	}
	fileFlag(c, &file)
	c.Flags().BoolVar(&printConfig, "print-config", false, "print the effective cluster file (defaults filled) and exit")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return pending(c, "being wired to config/ and nodes/")
}

func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Run the drill lab on its own: up, status, verify, down",
	}
	return pending(c, "the drill lab (nodes/lab) is being built")
}
