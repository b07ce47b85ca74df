package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// writeSSHResolution shows how each node will be reached: what OpenSSH's
// configuration (ssh -G) resolved, per value, and where it came from. It
// opens no SSH connection. Every line starts with prefix ("# " keeps
// --print-config's output a YAML document).
func writeSSHResolution(ctx context.Context, w io.Writer, cl *config.Cluster, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // ssh -G reads files only
	defer cancel()
	res, warnings, err := nodes.Explain(ctx, cl)
	if err != nil {
		return err
	}
	src := "OpenSSH's configuration (ssh -G)"
	switch cl.SSH.Config {
	case config.SSHConfigNone:
		src = "no OpenSSH configuration (ssh.config: none)"
	case "":
	default:
		src = "OpenSSH's configuration in " + cl.SSH.Config + " (ssh -G -F)"
	}
	fmt.Fprintf(w, "%sHow each node is reached: the cluster file, then %s, then defaults. No connection was opened.\n", prefix, src)
	for _, wn := range warnings {
		fmt.Fprintf(w, "%swarning: %s\n", prefix, wn)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range res {
		fmt.Fprintf(tw, "%s%s (%s)\n", prefix, r.Node, r.Address)
		for _, s := range []struct {
			key string
			v   nodes.Setting
		}{
			{"HostName", r.HostName}, {"Port", r.Port}, {"User", r.User},
			{"IdentityFile", r.IdentityFile}, {"ProxyJump", r.ProxyJump}, {"UserKnownHostsFile", r.KnownHosts},
		} {
			fmt.Fprintf(tw, "%s  %s\t%s\t%s\n", prefix, s.key, s.v.From, strings.ReplaceAll(s.v.Value, ",", ", "))
		}
	}
	return tw.Flush()
}
