package main

import (
	"io"

	"github.com/spf13/cobra"
)

// Versions this build targets; printed by `etcd-dr version`.
const (
	toolVersion      = "0.1.0-dev"
	targetEtcd       = "3.6 and 3.7 (etcdutl/etcdctl of each member's minor version: the node's own or brought, see etcd-dr tools)"
	targetKubernetes = "v1.35"
)

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "etcd-dr",
		Short: "Restore a Kubernetes cluster's etcd from a snapshot, safely and in order",
		Long: `etcd-dr walks an operator through restoring a Kubernetes cluster's etcd from a
snapshot in the only safe order:

  1. stop every kube-apiserver (and prove it: no process, no listener)
  2. restore every etcd member from one verified snapshot into a NEW data dir
  3. repoint the apiservers' --etcd-servers if member URLs changed
  4. start the apiservers once etcd is healthy, and wait for /readyz
  5. restart kube-scheduler, kube-controller-manager and every kubelet

Each step is gated, each post-condition verified before the next gate opens,
and every action journaled so a dropped session resumes where it was.

Exit codes: 0 success, 1 procedure failed or aborted, 2 usage or config error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.Version = buildVersion().String()
	root.SetVersionTemplate("etcd-dr {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newVersionCmd(),
		newCheckCmd(),
		newPlanCmd(),
		newConsoleCmd(),
		newRunCmd(),
		newRollbackCmd(),
		newWatchCmd(),
		newDrillCmd(),
		newLabCmd(),
		newSnapshotCmd(),
		newManCmd(),
		newToolsCmd(),
		newInitCmd(),
	)
	root.InitDefaultCompletionCmd() // now, not at Execute, so it gets its Example too
	addCompletions(root)
	return root
}
