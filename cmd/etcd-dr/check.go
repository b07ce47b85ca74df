package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps"
)

func newCheckCmd() *cobra.Command {
	var file, output string
	var printConfig bool
	var sf sshFlags
	c := &cobra.Command{
		Use:   "check -f cluster.yaml",
		Short: "Validate the cluster file and run the read-only preflight on every node",
		Long: `check validates the cluster file (every problem at once, as file:line:col), then
reaches every node over SSH with strict host-key checking and reports, per node:
SSH reachability and latency, passwordless sudo, OS, and free disk on etcd nodes.
On etcd members it also says which etcd runs there and which etcdutl and
etcdctl the restore would use: the node's own under sudo when its minor version
matches, else the bastion's static binary it would bring (see etcd-dr tools).
Then it shows preflight's readiness report (encryption keys, CA era, etcd
versions, certificates, quota and disk, automation; readinessOK in -o json),
which preflight enforces. It changes nothing on any node. Exit 0 only if
every node passes and no readiness check would keep the step-1 gate shut
(exit 1 names the failing check; an override in the cluster file opens it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := loadCluster(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if printConfig {
				out, err := cl.Effective()
				if err != nil {
					return failErr(err)
				}
				if _, err := cmd.OutOrStdout().Write(out); err != nil {
					return err
				}
				if err := writeSSHResolution(cmd.Context(), cmd.OutOrStdout(), cl, "# "); err != nil {
					return failErr(err)
				}
				return nil
			}
			if output != "text" && output != "json" {
				return usageErr("-o %s: want text or json", output)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var rep *steps.ReadinessReport
			results, err := probeAll(ctx, cl, sf, cmd.ErrOrStderr(), &rep)
			if err != nil {
				return usageErr("%v", err)
			}
			if output == "json" {
				err = writeProbeJSON(cmd.OutOrStdout(), results, rep)
			} else {
				writeProbeTable(cmd.OutOrStdout(), results)
				writeReadiness(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if n := failedProbes(results); n > 0 {
				return failErr(fmt.Errorf("%d of %d nodes failed the check", n, len(results)))
			}
			if err := readinessErr(rep); err != nil {
				// The report is shown and its verdict is in -o json; a check
				// that would keep the step-1 gate shut fails `check` too,
				// naming it, so a script learns it before the incident.
				return failErr(fmt.Errorf("preflight would refuse: %s", steps.Clean(err.Error())))
			}
			return nil
		},
	}
	fileFlag(c, &file)
	c.Flags().BoolVar(&printConfig, "print-config", false, "print the effective cluster file (defaults filled) and how ssh_config reaches each node, and exit (no SSH)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	sf.register(c)
	return c
}

// loadCluster loads and validates the cluster file, printing warnings and
// errors to w. A config error is exit 2.
func loadCluster(file string, w io.Writer) (*config.Cluster, error) {
	if file == "" {
		return nil, usageErr("no cluster file: pass -f cluster.yaml")
	}
	cl, diags, err := config.Load(file)
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
	var cerr *config.Errors
	if errors.As(err, &cerr) {
		fmt.Fprintln(w, cerr.Error())
		return nil, usageErr("%s: %d error(s); nothing was done", file, len(cerr.Diagnostics))
	}
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return cl, nil
}

// nodeCheck is one node's row of `etcd-dr check`.
type nodeCheck struct {
	Node     string        `json:"node"`
	Roles    []string      `json:"roles"`
	Address  string        `json:"address"`
	Latency  time.Duration `json:"latencyNs"`
	SSH      string        `json:"ssh"`
	Sudo     string        `json:"sudo"`
	OS       string        `json:"os"`
	DiskPath string        `json:"diskPath,omitempty"`
	DiskFree int64         `json:"diskFreeBytes,omitempty"`
	Disk     string        `json:"disk"`
	OK       bool          `json:"ok"`
	Problems []string      `json:"problems,omitempty"`
	// EtcdTools is, on an etcd member, which etcd it runs and which
	// etcdutl/etcdctl the restore would use there (or why none).
	EtcdTools *steps.MemberTools `json:"etcdTools,omitempty"`
	// Tools are the other programs the steps run on this node.
	Tools []toolCheck `json:"tools,omitempty"`
	// SSHTarget is where SSH went for this node (after ~/.ssh/config).
	SSHTarget *sshTarget `json:"sshTarget,omitempty"`
}

func probeAll(ctx context.Context, cl *config.Cluster, sf sshFlags, stderr io.Writer, rep **steps.ReadinessReport) ([]nodeCheck, error) {
	r, err := sf.newRunner(cl, stderr)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := make([]nodeCheck, len(cl.Nodes))
	names := make([]string, len(cl.Nodes))
	for i, n := range cl.Nodes {
		names[i] = n.Name
	}
	// Every node is probed, even after ctx ends: the probe then says why.
	nodes.Each(context.WithoutCancel(ctx), cl.SSH.Concurrency, names, func(_ context.Context, i int, _ string) error {
		n := cl.Nodes[i]
		disk := ""
		if n.Has(config.RoleEtcd) {
			disk = restoreParent(cl)
		}
		p := r.Probe(ctx, n.Name, disk)
		p.SudoErr = sudoAnswered(ctx, cl, r, n.Name, p.SudoErr) // check_prereq.go
		out[i] = toCheck(n, p)
		out[i].SSHTarget = targetOf(r, n.Name)
		return nil
	})
	addTools(ctx, cl, r, out)
	addEtcdTools(ctx, cl, r, out)
	*rep = addReadiness(ctx, cl, r, out)
	return out, nil
}

// restoreParent is where new data dirs will be created: the disk that must
// have room for the restore.
func restoreParent(cl *config.Cluster) string {
	dir, err := cl.Etcd.RestoredDir(time.Now())
	if err != nil {
		return "/var/lib"
	}
	return path.Dir(dir)
}

func toCheck(n config.Node, p nodes.ProbeResult) nodeCheck {
	c := nodeCheck{Node: n.Name, Roles: n.Roles, Address: n.Address, Latency: p.Latency,
		SSH: "ok", Sudo: "-", OS: p.OS, DiskPath: p.DiskPath, DiskFree: p.DiskFree, Disk: "-"}
	bad := func(item string, err error) string {
		c.Problems = append(c.Problems, steps.Clean(err.Error())) // a node's stderr: table and JSON
		return item
	}
	if p.SSHErr != nil {
		c.SSH = bad("FAILED", p.SSHErr)
		c.OS = "?"
		return c
	}
	if p.SudoChecked {
		c.Sudo = "ok"
		if p.SudoErr != nil {
			c.Sudo = bad("FAILED", p.SudoErr)
		}
	}
	if p.OSErr != nil {
		c.OS = bad("?", p.OSErr)
	} else if c.OS == "" {
		c.OS = p.Kernel
	}
	c.OS = steps.CleanLine(c.OS) // as the node's os-release says: may hold anything
	if p.DiskPath != "" {
		c.Disk = humanize.IBytes(uint64(max(p.DiskFree, 0))) + " free on " + p.DiskPath
		if p.DiskErr != nil {
			c.Disk = bad("?", p.DiskErr)
		}
	}
	c.OK = len(c.Problems) == 0
	return c
}

func failedProbes(rs []nodeCheck) int {
	n := 0
	for _, r := range rs {
		if !r.OK {
			n++
		}
	}
	return n
}

func writeProbeTable(w io.Writer, rs []nodeCheck) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLES\tSSH\tLATENCY\tSUDO\tTOOLS\tOS\tDISK\tSSH TO")
	for _, r := range rs {
		lat := "-"
		if r.SSH == "ok" {
			lat = r.Latency.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Node, joinRoles(r.Roles), r.SSH, lat, r.Sudo, toolsCell(r.Tools), r.OS, r.Disk, r.SSHTarget)
	}
	tw.Flush()
	writeEtcdTools(w, rs)
	for _, r := range rs {
		for _, p := range r.Problems {
			if !strings.Contains(p, r.Node) {
				p = r.Node + ": " + p
			}
			fmt.Fprintf(w, "\n%s\n", p)
		}
	}
}

func writeProbeJSON(w io.Writer, rs []nodeCheck, rep *steps.ReadinessReport) error {
	return writeJSON(w, struct {
		Nodes     []nodeCheck            `json:"nodes"`
		Readiness *steps.ReadinessReport `json:"readiness,omitempty"`
		// ReadinessOK: no readiness check would keep the step-1 gate shut.
		ReadinessOK bool `json:"readinessOK"`
		OK          bool `json:"ok"`
	}{rs, rep, readinessErr(rep) == nil, failedProbes(rs) == 0})
}

func joinRoles(roles []string) string { return strings.Join(roles, ",") }
