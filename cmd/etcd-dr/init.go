package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// initFlags are `etcd-dr init`'s flags.
type initFlags struct {
	fromNode   string
	kubeconfig string
	name       string
	snapshot   string
	out        string
	user       string
	port       int
	identities []string
	knownHosts string
	jumpHost   string
	sshConfig  string
	ssh        sshFlags
	set        func(flag string) bool // the operator gave this flag

	cs       config.SSH // what the flags amount to, as a cluster file's ssh keys
	fromHost string     // --from-node's host (an ssh_config alias or an address)
	warn     io.Writer  // stderr, each SSH warning once
}

func newInitCmd() *cobra.Command {
	var f initFlags
	c := &cobra.Command{
		Use:   "init (--from-node [USER@]HOST[:PORT] | --kubeconfig FILE) --name CLUSTER --snapshot FILE",
		Short: "Write a cluster file from a running cluster, for the operator to review",
		Long: `init finds the cluster's nodes and writes a cluster file that an operator only reviews.

--kubeconfig, while the cluster is healthy (the time drills are prepared): nodes, roles from their
labels, InternalIPs, and the etcd static pods.
--from-node, over SSH, when the API is already gone: etcd's members from etcd.yaml's --initial-cluster
(or the systemd unit's environment file), --etcd-servers from the kube-apiserver manifest, then every
member and control-plane node found that way; workers from the Node objects in --snapshot.

Every node is reached over SSH as every other command reaches it: through OpenSSH's configuration
(ssh -G: Host aliases, HostName, User, Port, IdentityFile, ProxyJump chains, UserKnownHostsFile), the
flags winning; only the flags given are written to the file, so run resolves each node as init did.
Every host key's fingerprint is printed for the operator to compare
out of band: nothing is trusted silently (unknown keys are refused unless --accept-new-host-keys).
An existing file is never overwritten. Keep the file beside the backups.`,
		Example: `  etcd-dr init --from-node ops@10.0.0.11 --name prod-eu1 --snapshot /backups/etcd/snap.db
  etcd-dr init --kubeconfig ~/.kube/config --name prod-eu1 --snapshot /backups/etcd/snap.db --out prod-eu1.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.set = cmd.Flags().Changed
			return runInit(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.fromNode, "from-node", "", "a control-plane or etcd node to read the cluster from over SSH: [user@]host[:port]")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "read the cluster from its API (a healthy cluster)")
	fl.StringVar(&f.name, "name", "", "the cluster's name, typed at destructive gates")
	fl.StringVar(&f.snapshot, "snapshot", "", "the snapshot to restore (a bastion path; --from-node also finds workers in it)")
	fl.StringVarP(&f.out, "out", "o", "cluster.yaml", "the cluster file to write (never overwritten)")
	fl.StringVarP(&f.user, "user", "l", "", "SSH login of every node (default: ssh_config's User, else the current user)")
	fl.IntVarP(&f.port, "port", "p", 22, "SSH port of every node (default: ssh_config's Port, else 22)")
	fl.StringArrayVarP(&f.identities, "identity", "i", nil, "private key file (repeatable; default: ssh_config's IdentityFile, else ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist)")
	fl.StringVar(&f.knownHosts, "known-hosts", "~/.ssh/known_hosts", "known_hosts file every host key is checked against (default: ssh_config's UserKnownHostsFile)")
	fl.StringVar(&f.jumpHost, "jump-host", "", "[user@]host[:port] of a jump host for every node (default: ssh_config's ProxyJump, chains included)")
	fl.StringVarP(&f.sshConfig, "ssh-config", "F", "", "OpenSSH client configuration to read, written as ssh.config (default: ssh's own, ~/.ssh/config; none: read none)")
	f.ssh.register(c)
	return c
}

func runInit(ctx context.Context, f initFlags, stdout, stderr io.Writer) error {
	if (f.fromNode == "") == (f.kubeconfig == "") {
		return usageErr("init: give exactly one of --from-node or --kubeconfig")
	}
	if f.name == "" || f.snapshot == "" {
		return usageErr("init: --name and --snapshot are required (the cluster file names both)")
	}
	if _, err := os.Lstat(f.out); err == nil {
		return usageErr("init: %s already exists: init never overwrites a cluster file; move it away or pass another --out", f.out)
	}
	if err := f.sshSettings(stderr); err != nil {
		return err
	}
	f.snapshot = absPath(nodes.ExpandHome(f.snapshot))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()

	var d config.Draft
	var err error
	keys := newKeyLog()
	if f.fromNode != "" {
		d, err = discoverFromNode(ctx, f, keys)
	} else {
		d, err = discoverFromAPI(ctx, f)
	}
	if err != nil {
		return failErr(fmt.Errorf("init: %w", err))
	}
	d.Name, d.SnapshotPath = f.name, f.snapshot
	// Only what the operator gave is written: the rest stays OpenSSH's
	// configuration's (or the defaults'), resolved by run as init did.
	g := f.cs.Given
	if g.User {
		d.User = f.cs.User
	}
	if g.Port {
		d.Port = f.cs.Port
	}
	if g.IdentityFiles {
		d.IdentityFiles = f.cs.IdentityFiles
	}
	if g.KnownHosts {
		d.KnownHosts = f.cs.KnownHosts
	}
	d.JumpHost, d.SSHConfig = f.cs.JumpHost, f.cs.Config
	// Every node is reached once, so each host key is shown and checked.
	unreached := reachAll(ctx, f, d.Nodes, keys)
	d.Notes = append(d.Notes, unreached...)
	data, err := d.YAML()
	if err != nil {
		return failErr(fmt.Errorf("init: %w", err))
	}
	if err := config.WriteNew(f.out, data); err != nil {
		return failErr(fmt.Errorf("init: %w", err))
	}
	fmt.Fprintf(stdout, "wrote %s: cluster %s, %d nodes (%s)\n", f.out, d.Name, len(d.Nodes), d.Source)
	for _, n := range d.Nodes {
		fmt.Fprintf(stdout, "  %-12s %-16s %v\n", n.Name, n.Address, n.Roles)
	}
	fmt.Fprintf(stdout, "host keys (compare each with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node's console):\n")
	for _, k := range keys.sorted() {
		fmt.Fprintf(stdout, "  %-12s %-22s %s %s\n", k.node, k.addr, k.typ, k.fp)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(stdout, "review: %s\n", n)
	}
	fmt.Fprintf(stdout, "next: review %s, run `etcd-dr check -f %s`, and keep the file beside the backups.\n", f.out, f.out)
	if len(unreached) > 0 {
		return failErr(fmt.Errorf("init: %d node(s) not reached over SSH; the file is written, fix SSH before relying on it", len(unreached)))
	}
	return nil
}

// keyLog records each host key that passed known_hosts.
type keyLog struct {
	mu   sync.Mutex
	seen map[string]keySeen
}

type keySeen struct{ node, addr, typ, fp string }

func newKeyLog() *keyLog { return &keyLog{seen: map[string]keySeen{}} }

func (k *keyLog) hear(node, addr string, key ssh.PublicKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seen[addr] = keySeen{node, addr, key.Type(), ssh.FingerprintSHA256(key)}
}

func (k *keyLog) sorted() []keySeen {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]keySeen, 0, len(k.seen))
	for _, v := range k.seen {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node < out[j].node })
	return out
}

// initRunner builds an SSH runner for the given nodes the way every other
// command builds one from a cluster file (nodes.NewRunner: ssh -G per node
// and per ProxyJump hop, the flags winning as the file's keys do), so init
// reaches each node exactly as `run` will with the file it writes.
func initRunner(f initFlags, ns []config.Node, keys *keyLog) (*nodes.Runner, error) {
	cl := &config.Cluster{File: "etcd-dr init's flags (-F " + config.SSHConfigNone + ")", SSH: f.cs, Nodes: ns}
	opts := f.ssh.options()
	opts.OnHostKey = keys.hear
	return f.ssh.newRunnerOpts(cl, opts, f.warn)
}

// reachAll dials every node once (printing its host key) and returns a
// sentence per node it could not reach.
func reachAll(ctx context.Context, f initFlags, ns []config.Node, keys *keyLog) []string {
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	r, err := initRunner(f, ns, keys)
	if err != nil {
		return []string{err.Error()}
	}
	defer r.Close()
	var out []string
	for _, res := range r.FanOut(ctx, names, func(string) nodes.Cmd { return nodes.Cmd{Args: []string{"true"}} }, nil) {
		if !res.OK() {
			out = append(out, fmt.Sprintf("node %s not reached over SSH: %v", res.Node, res.Err))
		}
	}
	return out
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// sshSettings turns init's flags into the ssh keys of a cluster file:
// what the operator gave is "set in the file" (it wins over OpenSSH's
// configuration), the rest takes config's defaults. The user and port
// written in --from-node count as -l and -p, for every node.
func (f *initFlags) sshSettings(stderr io.Writer) error {
	s := config.SSH{User: f.user, Port: f.port, IdentityFiles: f.identities, KnownHosts: f.knownHosts,
		JumpHost: f.jumpHost, Config: f.sshConfig, Sudo: true,
		ConnectTimeout: config.DefaultConnectTimeout, CommandTimeout: config.DefaultCommandTimeout,
		Keepalive: config.DefaultKeepalive, Concurrency: config.DefaultConcurrency}
	s.Given = config.SSHGiven{User: f.set("user"), Port: f.set("port"), IdentityFiles: f.set("identity"), KnownHosts: f.set("known-hosts")}
	if f.fromNode != "" {
		at := strings.LastIndex(f.fromNode, "@")
		user, hostPort := "", f.fromNode[at+1:]
		if at >= 0 {
			user = f.fromNode[:at]
		}
		t, err := nodes.ParseJumpHost(hostPort, "login") // the login is user, or none
		if err != nil || (at >= 0 && user == "") {
			return usageErr("init: --from-node %q: want [user@]host[:port]", f.fromNode)
		}
		if user != "" {
			s.User, s.Given.User = user, true
		}
		if _, _, err := net.SplitHostPort(hostPort); err == nil {
			s.Port, s.Given.Port = t.Port, true
		}
		f.fromHost = t.Host
	}
	if s.User == "" {
		s.User = currentUser()
	}
	if len(s.IdentityFiles) == 0 {
		for _, k := range []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"} {
			if st, err := os.Stat(nodes.ExpandHome(k)); err == nil && st.Mode().IsRegular() {
				s.IdentityFiles = append(s.IdentityFiles, nodes.ExpandHome(k))
			}
		}
	}
	for i, p := range s.IdentityFiles {
		s.IdentityFiles[i] = absPath(nodes.ExpandHome(p))
	}
	s.KnownHosts = absPath(nodes.ExpandHome(s.KnownHosts))
	if s.Config != "" && s.Config != config.SSHConfigNone {
		s.Config = absPath(nodes.ExpandHome(s.Config))
		if st, err := os.Stat(s.Config); err != nil || !st.Mode().IsRegular() {
			return usageErr("init: -F %s: not a readable file", f.sshConfig)
		}
	}
	if s.JumpHost != "" {
		if _, err := nodes.ParseJumpHost(s.JumpHost, s.User); err != nil {
			return usageErr("init: --jump-host: %v", err)
		}
	}
	f.cs, f.warn = s, &onceWriter{w: stderr, seen: map[string]bool{}}
	return nil
}

// onceWriter drops a write identical to an earlier one: init builds a few
// runners, each of which would repeat the same SSH warnings.
type onceWriter struct {
	mu   sync.Mutex
	w    io.Writer
	seen map[string]bool
}

func (o *onceWriter) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen[string(p)] {
		return len(p), nil
	}
	o.seen[string(p)] = true
	return o.w.Write(p)
}
