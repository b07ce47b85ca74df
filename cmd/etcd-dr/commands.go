package main

import (
	"github.com/spf13/cobra"
)

// fileFlag adds the -f/--file flag every cluster command takes.
func fileFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVarP(dst, "file", "f", "", "cluster file (YAML; see README \"Cluster file\")")
}
