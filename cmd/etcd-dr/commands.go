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
