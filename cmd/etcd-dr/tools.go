package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/nodes/etcdtools"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

func newToolsCmd() *cobra.Command {
	var file, dir string
	c := &cobra.Command{
		Use:   "tools [-f cluster.yaml | --dir DIR]",
		Short: "List the static etcdutl and etcdctl this bastion brings to etcd nodes",
		Long: `A kubeadm node has no etcdutl or etcdctl on its PATH (they live only inside the
etcd image), and a kubespray node's may be hidden by sudo's secure_path or be
another minor version than its etcd. So preflight uses a node's own tool only
when sudo finds it and its minor version is the member's etcd's; otherwise it
copies the bastion's static binary of that minor version into
/var/lib/etcd-dr/tools/<run-id>/ on the node, checks its sha256 there and runs
it once under sudo, exactly as the restore will.

The bastion's binaries are files named etcdutl-vX.Y.Z and etcdctl-vX.Y.Z in one
directory: the cluster file's etcd.toolsDir, or else the cache that
'etcd-dr tools build' fills. This lists them with their sha256.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file != "" {
				cl, err := loadCluster(file, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				if dir == "" {
					dir = cl.Etcd.ToolsDir
				}
			}
			d, err := etcdtools.Dir(dir)
			if err != nil {
				return failErr(err)
			}
			return writeTools(cmd.OutOrStdout(), d)
		},
	}
	fileFlag(c, &file)
	c.Flags().StringVar(&dir, "dir", "", "directory of etcdutl-vX.Y.Z and etcdctl-vX.Y.Z (default: etcd.toolsDir, else the build cache)")
	c.AddCommand(newToolsBuildCmd())
	return c
}

func newToolsBuildCmd() *cobra.Command {
	var versions []string
	c := &cobra.Command{
		Use:   "build [--etcd-version 3.6.6]...",
		Short: "Build the static etcdutl and etcdctl of pinned etcd versions into the cache",
		Long: `build compiles etcdutl and etcdctl (CGO_ENABLED=0: static, for this bastion's
OS and architecture) at the versions pinned in testdata/labbin, from the Go module proxy,
into the cache listed by 'etcd-dr tools'. It needs the etcd-dr clone (or
ETCD_DR_LABBIN pointing at its testdata/labbin) and Go.

For nodes of another architecture, or an air-gapped bastion, build them where
the proxy is reachable, e.g. in testdata/labbin/etcd36:
  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -trimpath -o etcdutl-v3.6.6 go.etcd.io/etcd/etcdutl/v3
and copy the files into the directory etcd.toolsDir names.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			for _, v := range versions {
				if _, err := lab.EnsureEtcdTools(ctx, v, func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), s) }); err != nil {
					return failErr(err)
				}
			}
			d, err := etcdtools.CacheDir()
			if err != nil {
				return failErr(err)
			}
			return writeTools(cmd.OutOrStdout(), d)
		},
	}
	c.Flags().StringSliceVar(&versions, "etcd-version", lab.EtcdVersions(), "etcd versions to build the tools of (repeatable)")
	return c
}

func writeTools(w io.Writer, dir string) error {
	tools, err := etcdtools.List(dir)
	if err != nil {
		return failErr(err)
	}
	fmt.Fprintf(w, "etcd tools in %s\n", dir)
	if len(tools) == 0 {
		fmt.Fprintln(w, "none: run `etcd-dr tools build`, or put static etcdutl-vX.Y.Z and etcdctl-vX.Y.Z there")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tVERSION\tSHA256\tPATH")
	for _, t := range tools {
		sum, err := etcdtools.SHA256(t.Path)
		if err != nil {
			return failErr(err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Version, sum, t.Path)
	}
	return tw.Flush()
}
