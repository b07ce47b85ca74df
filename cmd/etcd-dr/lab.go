package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
)

// defaultLabDir is where `lab up` and `drill` put the lab unless --dir says
// otherwise: beside the working directory, so an operator finds it.
const defaultLabDir = ".lab"

// labFlags are the shape of a lab, shared by `lab up`, `lab serve` and `drill`.
type labFlags struct {
	dir                string
	cps, workers, etcd int
	topology, etcdMode string
	block              int
	etcdLB             bool
	keys               int
	etcdVersion        string
	hostEtcdTools      bool
	etcdUser           string
	noEncryption       bool
	registerNodes      bool
	kubeletDown        []string // fault kubelet-down@NODE (lab.Options.KubeletDown)
	kubelet            string   // lab.Options.Kubelet: lab or real
	snapshotFrom       string   // snapshot.from in cluster.yaml (lab.Options.SnapshotFrom)
}

func (f *labFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.dir, "dir", defaultLabDir, "lab directory: state, node sandboxes, cluster.yaml, snapshot.db")
	c.Flags().IntVar(&f.cps, "nodes", 3, "control-plane nodes (cp-1..cp-N, up to 9)")
	c.Flags().IntVar(&f.workers, "workers", 2, fmt.Sprintf("worker nodes (w-1..w-M, up to %d)", lab.MaxWorkers))
	c.Flags().StringVar(&f.topology, "topology", lab.TopologyStacked, "stacked (etcd on control-plane nodes) or external (etcd-1..N nodes)")
	c.Flags().StringVar(&f.etcdMode, "etcd-mode", lab.EtcdModeStatic, "static-pod (kubeadm) or systemd (kubespray host mode)")
	c.Flags().IntVar(&f.etcd, "etcd-nodes", 3, "etcd nodes in the external topology")
	c.Flags().IntVar(&f.block, "block", 0, "second octet of the lab's 127.x addresses, to run two labs at once")
	c.Flags().BoolVar(&f.etcdLB, "etcd-lb", false, "put a load balancer (127.B.40.1:2379) in front of etcd and point --etcd-servers at it")
	c.Flags().IntVar(&f.keys, "keys", 0, "also seed at least this many raw etcd keys before the snapshot (real clusters hold 10k-1M)")
	c.Flags().StringVar(&f.etcdVersion, "etcd-version", strings.TrimPrefix(lab.EtcdVersion, "v"),
		"etcd the members run: 3.6.6 (what kubeadm v1.35.4 ships) or 3.7.3; etcd.yaml's image tag says it")
	c.Flags().BoolVar(&f.hostEtcdTools, "host-etcd-tools", false,
		"install etcdutl and etcdctl in etcd nodes' /usr/local/bin (kubespray-like); by default nodes have none, as kubeadm hosts")
	c.Flags().StringVar(&f.etcdUser, "etcd-user", "",
		"systemd mode: the etcd unit's User= (e.g. etcd, as older kubespray units and distro packages); the data dir is that user's, 0700. Needs root")
	c.Flags().BoolVar(&f.noEncryption, "no-encryption", false,
		"turn encryption at rest off; by default every apiserver encrypts Secrets with an aescbc key, as hardened clusters do")
	c.Flags().BoolVar(&f.registerNodes, "register-nodes", false,
		"register Node objects and mirror pods before the snapshot, as kubelets do (for etcd-dr init --kubeconfig DIR/admin.conf)")
	c.Flags().StringSliceVar(&f.kubeletDown, "kubelet-down", nil, "fault: these nodes' kubelets do not come back from step 5's restart")
	_ = c.Flags().MarkHidden("kubelet-down") // a game-day fault, not a shape of the lab
	c.Flags().StringVar(&f.kubelet, "kubelet", lab.KubeletLab,
		"node software: lab (the lab kubelet) or real (kubeadm-made nodes under the real kubelet v1.35.4 and containerd; needs root; --block is then the slot 0-15 in 198.51.100.0/24)")
	c.Flags().StringVar(&f.snapshotFrom, "snapshot-from", "",
		"write snapshot.from into cluster.yaml: restore from a member's data (best-member, or a node) instead of snapshot.db, e.g. with --fault majority-lost")
}

func (f *labFlags) args() []string {
	args := []string{"--dir", f.dir, "--nodes", strconv.Itoa(f.cps), "--workers", strconv.Itoa(f.workers),
		"--topology", f.topology, "--etcd-mode", f.etcdMode, "--etcd-nodes", strconv.Itoa(f.etcd),
		"--block", strconv.Itoa(f.block), "--etcd-lb=" + strconv.FormatBool(f.etcdLB), "--keys", strconv.Itoa(f.keys),
		"--etcd-version", f.etcdVersion, "--host-etcd-tools=" + strconv.FormatBool(f.hostEtcdTools), "--etcd-user", f.etcdUser,
		"--no-encryption=" + strconv.FormatBool(f.noEncryption),
		"--register-nodes=" + strconv.FormatBool(f.registerNodes), "--kubelet", f.kubelet, "--snapshot-from", f.snapshotFrom}
	for _, n := range f.kubeletDown {
		args = append(args, "--kubelet-down", n)
	}
	return args
}

func (f *labFlags) options(progress func(string)) lab.Options {
	o := lab.Options{Dir: f.dir, ControlPlanes: f.cps, Workers: f.workers, Topology: f.topology,
		EtcdMode: f.etcdMode, Block: f.block, EtcdLB: f.etcdLB, Keys: f.keys, EtcdVersion: f.etcdVersion,
		HostEtcdTools: f.hostEtcdTools, EtcdUser: f.etcdUser, NoEncryption: f.noEncryption, RegisterNodes: f.registerNodes, KubeletDown: f.kubeletDown, Kubelet: f.kubelet, SnapshotFrom: f.snapshotFrom, Progress: progress}
	if f.topology == lab.TopologyExternal {
		o.EtcdNodes = f.etcd
	}
	return o
}

func newLabCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "lab",
		Short: "Run the drill lab on its own: up, status, verify, down",
		Long: `The drill lab is a throwaway control plane on this machine that looks like real
nodes to etcd-dr: each node owns a 127.x address, its own namespaces with real
/etc/kubernetes and /var/lib/etcd, an SSH server, and a lab kubelet running real
etcd (3.6.6 by default, as kubeadm v1.35 ships; --etcd-version 3.7.3) and
kube-apiserver v1.35 processes from kubeadm-format static pod
manifests. Its binaries are built from the Go module proxy on first use and
cached under the user cache dir.`,
	}
	c.AddCommand(newLabUpCmd(), newLabServeCmd(), newLabStatusCmd(), newLabVerifyCmd(), newLabDownCmd())
	return c
}

func newLabUpCmd() *cobra.Command {
	var f labFlags
	c := &cobra.Command{
		Use:   "up",
		Short: "Start a lab in the background, seed it and take its snapshot",
		Long: `up starts the lab daemon in the background and returns once every node is up,
the cluster is seeded, DIR/snapshot.db is taken and objects written after it.
It writes DIR/cluster.yaml (usable by every other command), DIR/known_hosts and
DIR/id_ed25519.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return failErr(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w := cmd.ErrOrStderr()
			start := time.Now()
			st, err := lab.Start(ctx, f.dir, exe, append([]string{"lab", "serve"}, f.args()...),
				func(s string) { fmt.Fprintln(w, s) })
			if err != nil {
				return failErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab up in %s (%s)\n", st.Dir, time.Since(start).Round(time.Second))
			writeLabStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	f.register(c)
	return c
}

func newLabServeCmd() *cobra.Command {
	var f labFlags
	c := &cobra.Command{
		Use:    "serve",
		Short:  "Run the lab in the foreground until interrupted (what `lab up` starts)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			w := cmd.ErrOrStderr()
			return failErr(lab.Serve(ctx, f.options(func(s string) {
				fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05.000"), s)
			})))
		},
	}
	f.register(c)
	return c
}

func labDirFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVar(dst, "dir", defaultLabDir, "lab directory")
}

func newLabStatusCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the lab's nodes and whether its processes run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := lab.ReadStatus(dir)
			if err != nil {
				return failErr(err)
			}
			writeLabStatus(cmd.OutOrStdout(), st)
			if !st.Running || len(st.Problems) > 0 {
				return failErr(fmt.Errorf("the lab in %s is not healthy", dir))
			}
			return nil
		},
	}
	labDirFlag(c, &dir)
	return c
}

func writeLabStatus(w io.Writer, st lab.Status) {
	state := "running"
	if !st.Running {
		state = "NOT RUNNING"
	}
	fmt.Fprintf(w, "lab %s: daemon pid %d %s since %s\n", st.Dir, st.DaemonPID, state, st.Started.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSSH\tROLES")
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Addr, n.SSHAddr, joinRoles(n.Roles))
	}
	tw.Flush()
	for _, p := range st.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
}

func newLabVerifyCmd() *cobra.Command {
	var dir, output string
	c := &cobra.Command{
		Use:   "verify",
		Short: "Check the lab's safety invariants from its timeline and the live cluster",
		Long: `verify checks, from the lab's timeline and the live cluster, that: no restore ran
while any apiserver process or listener existed; old data dirs are untouched;
every etcd member is in one healthy cluster with one leader; scheduler,
controller-manager and every kubelet started after the restore; objects written
after the snapshot are gone and seeded objects are served by the kube-apiserver.
Exit 0 only when all hold.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			rep, err := lab.Verify(cmd.Context(), dir)
			if err != nil {
				return failErr(err)
			}
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), rep)
			} else {
				writeLabReport(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return err
			}
			if !rep.OK() {
				return failErr(fmt.Errorf("lab invariants do not hold: %v", rep.Failed()))
			}
			return nil
		},
	}
	labDirFlag(c, &dir)
	outputFlag(c, &output)
	return c
}

func writeLabReport(w io.Writer, rep lab.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ch := range rep.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, ch.Name, ch.Detail)
	}
	tw.Flush()
}

func newLabDownCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "down",
		Short: "Stop the lab and prove no process of it remains",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.Down(dir); err != nil {
				return failErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lab in %s is down; no process of it remains\n", dir)
			return nil
		},
	}
	labDirFlag(c, &dir)
	return c
}
