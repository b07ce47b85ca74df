package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/config"
)

// overrideFlag is --override: the headless way to do what `override CHECK`
// does at preflight's failure gate in the console. The cluster name it
// needs typed is --confirm's, and the engine journals each override with
// the operator's name.
func overrideFlag(c *cobra.Command, dst *[]string) {
	c.Flags().StringSliceVar(dst, "override", nil, "headless: readiness checks to override if they fail ("+
		strings.Join(config.ReadinessChecks, ", ")+"; never etcd-versions); journaled, confirmed by the cluster name")
	_ = c.RegisterFlagCompletionFunc("override", cobra.FixedCompletions(config.ReadinessChecks, cobra.ShellCompDirectiveNoFileComp))
}

// checkOverrides refuses, before anything runs, an --override that names
// no overridable readiness check: a typo would otherwise leave the gate
// shut only after the lab or the run started.
func checkOverrides(names []string) error {
	for _, n := range names {
		if !slices.Contains(config.ReadinessChecks, n) {
			return usageErr("--override %q: not a readiness check that can be overridden; use one of %s (etcd-versions never: an etcd that refuses the restored data will not start)",
				n, strings.Join(config.ReadinessChecks, ", "))
		}
	}
	return nil
}
