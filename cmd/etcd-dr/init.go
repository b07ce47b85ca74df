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

Every node is reached over SSH, and every host key's fingerprint is printed for the operator to compare
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
	fl.StringVarP(&f.user, "user", "l", "", "SSH login (default: the current user)")
	fl.IntVarP(&f.port, "port", "p", 22, "SSH port of every node")
	fl.StringArrayVarP(&f.identities, "identity", "i", nil, "private key file (repeatable; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exist)")
	fl.StringVar(&f.knownHosts, "known-hosts", "~/.ssh/known_hosts", "known_hosts file every host key is checked against")
	fl.StringVar(&f.jumpHost, "jump-host", "", "[user@]host[:port] of a jump host")
	fl.StringVarP(&f.sshConfig, "ssh-config", "F", "", "OpenSSH client configuration to read (default: ssh's own, ~/.ssh/config)")
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
	if f.fromNode != "" {
		if err := f.applySSHConfig(ctx, stderr); err != nil {
			return err
		}
	}
	if f.user == "" {
		f.user = currentUser()
	}
	if len(f.identities) == 0 {
		for _, k := range []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"} {
			if st, err := os.Stat(nodes.ExpandHome(k)); err == nil && st.Mode().IsRegular() {
				f.identities = append(f.identities, nodes.ExpandHome(k))
			}
		}
	}
	for i, p := range f.identities {
		f.identities[i] = absPath(nodes.ExpandHome(p))
	}
	f.knownHosts = absPath(nodes.ExpandHome(f.knownHosts))
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
	d.User, d.Port, d.IdentityFiles, d.KnownHosts, d.JumpHost = f.user, f.port, f.identities, f.knownHosts, f.jumpHost
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

// initRunner builds an SSH runner for the given targets with init's flags.
func initRunner(f initFlags, targets []nodes.Target, keys *keyLog) (*nodes.Runner, error) {
	p := nodes.Params{Nodes: targets, IdentityFiles: f.identities, KnownHosts: f.knownHosts,
		AcceptNew: f.ssh.acceptNew, Sudo: true, OnHostKey: keys.hear, ConnectTimeout: 10 * time.Second}
	if !f.ssh.noAgent {
		p.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	if f.jumpHost != "" {
		j, err := nodes.ParseJumpHost(f.jumpHost, f.user)
		if err != nil {
			return nil, fmt.Errorf("--jump-host: %w", err)
		}
		p.Jump = &j
	}
	return nodes.New(p)
}

// reachAll dials every node once (printing its host key) and returns a
// sentence per node it could not reach.
func reachAll(ctx context.Context, f initFlags, ns []config.Node, keys *keyLog) []string {
	var targets []nodes.Target
	var names []string
	for _, n := range ns {
		targets = append(targets, nodes.Target{Name: n.Name, Host: n.Address, Port: f.port, User: f.user})
		names = append(names, n.Name)
	}
	r, err := initRunner(f, targets, keys)
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

// splitTarget reads [user@]host[:port] with defaults.
func splitTarget(s, user string, port int) (nodes.Target, error) {
	t, err := nodes.ParseJumpHost(s, user)
	if err != nil {
		return t, err
	}
	host := s[strings.LastIndex(s, "@")+1:]
	if _, _, err := net.SplitHostPort(host); err != nil {
		t.Port = port
	}
	t.Name = "from-node"
	return t, nil
}

// applySSHConfig reads what OpenSSH's configuration says about --from-node
// (ssh -G: Host aliases, Include, Match), for what the flags do not set.
func (f *initFlags) applySSHConfig(ctx context.Context, stderr io.Writer) error {
	user, hostPort, hasUser := strings.Cut(f.fromNode, "@")
	if !hasUser {
		hostPort, user = user, ""
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		host, port = hostPort, ""
	}
	c, err := nodes.ResolveSSHConfig(ctx, f.sshConfig, host)
	if err != nil {
		if f.sshConfig != "" {
			return usageErr("init: %v", err)
		}
		fmt.Fprintf(stderr, "etcd-dr: warning: %v; using the flags and defaults only\n", err)
		return nil
	}
	if user == "" && !f.set("user") {
		user = c.User
	}
	if port == "" && !f.set("port") && c.Port != 0 {
		f.port = c.Port
	}
	if !f.set("identity") && len(c.Identities) > 0 {
		f.identities = c.Identities
	}
	if !f.set("known-hosts") {
		for _, kh := range c.KnownHosts {
			if st, err := os.Stat(kh); err == nil && st.Mode().IsRegular() {
				f.knownHosts = kh
				break
			}
		}
	}
	if !f.set("jump-host") && c.ProxyJump != "" {
		if strings.Contains(c.ProxyJump, ",") {
			return usageErr("init: ProxyJump %s for %s is a chain; etcd-dr follows one jump host: pass --jump-host", c.ProxyJump, host)
		}
		f.jumpHost = c.ProxyJump
	}
	if c.HostName != "" {
		host = c.HostName
	}
	f.fromNode = host
	if port != "" {
		f.fromNode = net.JoinHostPort(host, port)
	}
	if user != "" {
		f.fromNode = user + "@" + f.fromNode
	}
	return nil
}
