package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// prepare writes the lab dir: PKI, manifests, kubeconfigs and shims into each
// node's sandbox (they become the node's /etc and /usr/local/bin), the
// operator's SSH key, and tokens. Nothing runs yet.
func prepare(opts Options, bins Binaries) (*Lab, error) {
	if err := claimDir(opts.Dir); err != nil {
		return nil, err
	}
	// A previous lab's sandboxes and timeline would mix into this one's.
	for _, d := range []string{"nodes", "timeline", "state", "pki"} {
		if err := os.RemoveAll(filepath.Join(opts.Dir, d)); err != nil {
			return nil, fmt.Errorf("lab up: clean %s: %w", d, err)
		}
	}
	tl, err := newTimeline(filepath.Join(opts.Dir, "timeline"))
	if err != nil {
		return nil, err
	}
	pki, err := NewPKI()
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, pki: pki, tl: tl, bins: bins, nodes: map[string]*labNode{}, cancel: func() {},
		state: State{Dir: opts.Dir, DaemonPID: os.Getpid(), Started: time.Now(),
			Tokens:      Tokens{Admin: randomToken(), Scheduler: randomToken(), ControllerManager: randomToken()},
			ClusterFile: filepath.Join(opts.Dir, clusterFile)}}
	if !opts.NoEncryption {
		k, err := newEncKey("lab-key-1")
		if err != nil {
			return nil, err
		}
		l.enc = []encKey{k}
	}
	l.state.Tokens.Kubelets = map[string]string{}
	for _, s := range opts.specs() {
		l.state.Tokens.Kubelets[s.Name] = randomToken()
	}
	for _, s := range opts.specs() {
		if err := l.prepareNode(s, opts.members(), bins); err != nil {
			return nil, err
		}
	}
	return l, l.writeBastionPKI()
}

func (l *Lab) prepareNode(s nodeSpec, members []nodeSpec, bins Binaries) error {
	dir := filepath.Join(l.opts.Dir, "nodes", s.Name)
	etc := filepath.Join(dir, "upper", "etc")
	pkiDir := filepath.Join(etc, "kubernetes", "pki")
	for _, d := range []string{pkiDir, filepath.Join(etc, "kubernetes", "manifests"), filepath.Join(dir, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node %s: %w", s.Name, err)
		}
	}
	if err := writeEtcHosts(etc, s.Name); err != nil {
		return err
	}
	member, cp := slices.Contains(s.Roles, "etcd"), slices.Contains(s.Roles, "control-plane")
	if err := writeNodeBin(filepath.Join(dir, "bin"), filepath.Join(dir, "ctl", "sbin"), bins,
		member && l.opts.HostEtcdTools, member && l.opts.EtcdMode == EtcdModeSystemd); err != nil {
		return fmt.Errorf("node %s: %w", s.Name, err)
	}
	if err := writeNodeAddress(dir, s.Addr); err != nil {
		return fmt.Errorf("node %s: %w", s.Name, err)
	}
	if !member && !cp {
		_, ca := l.pki.CAPEM()
		return os.WriteFile(filepath.Join(pkiDir, "ca.crt"), ca, 0o644)
	}
	if err := l.pki.WriteNode(pkiDir, s.Name, s.Addr); err != nil {
		return err
	}
	d := manifestData{Name: s.Name, Addr: s.Addr, Advertise: advertiseAddr(s.Addr), InitialCluster: initialCluster(members),
		EtcdServers: clientURLs(members), EtcdImageTag: etcdImageTag(bins.EtcdVersion), KubeVersion: KubeVersion}
	if l.opts.Topology == TopologyStacked {
		d.EtcdServers = clientURLs([]nodeSpec{s})
	}
	if l.opts.EtcdLB {
		d.EtcdServers = "https://" + net.JoinHostPort(lbAddr(l.opts.Block), "2379")
	}
	if member {
		if err := writeEtcdMember(etc, d, l.opts.EtcdMode); err != nil {
			return err
		}
		if l.opts.EtcdLB {
			if err := l.lbServerCert(pkiDir, s.Name, s.Addr); err != nil {
				return err
			}
		}
	}
	if cp {
		if len(l.enc) > 0 {
			d.EncryptionConfig, d.EncryptionDir = encryptionConfig, encryptionDir
			if err := writeEncryptionConfig(etc, l.enc); err != nil {
				return fmt.Errorf("node %s: %w", s.Name, err)
			}
		}
		return writeControlPlane(etc, d, l.state.Tokens)
	}
	return nil
}

// writeBastionPKI gives the bastion-side tools (seed, verify, the engine's
// health checks) what an operator has: the CAs and an etcd client cert.
func (l *Lab) writeBastionPKI() error {
	dir := filepath.Join(l.opts.Dir, "pki")
	if err := os.MkdirAll(filepath.Join(dir, "etcd"), 0o755); err != nil {
		return err
	}
	if err := writePair(dir, "ca", l.pki.CA); err != nil {
		return err
	}
	if err := writePair(dir, "etcd/ca", l.pki.EtcdCA); err != nil {
		return err
	}
	return l.pki.WriteNode(filepath.Join(dir, "bastion"), "bastion", "127.0.0.1")
}

// start brings up every node: namespaces, control socket, kubelet, SSH.
func (l *Lab) start(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	userKey, err := newSigner(filepath.Join(l.opts.Dir, identityFile), "etcd-dr-lab")
	if err != nil {
		return err
	}
	if err := l.startLB(); err != nil {
		return err
	}
	var known strings.Builder
	// Every node's sshd listens on one port, as a real fleet's sshd does on
	// 22 (which the host may hold here): a cluster file, or `etcd-dr init`,
	// then needs one ssh.port, not a port per node.
	port := "0"
	for _, s := range l.opts.specs() {
		n, err := l.startOne(ctx, runCtx, s, userKey.PublicKey(), port)
		if err != nil {
			return err
		}
		if port == "0" {
			_, port, _ = net.SplitHostPort(n.ssh.Addr())
		}
		known.WriteString(knownHostsLine(n.ssh.Addr(), n.hostKeys[0].PublicKey()) + "\n")
		l.state.Nodes = append(l.state.Nodes, NodeState{nodeSpec: s, SSHAddr: n.ssh.Addr(), InitPID: n.pid})
	}
	if err := writeFileAtomic(filepath.Join(l.opts.Dir, knownHostFile), []byte(known.String()), 0o644); err != nil {
		return err
	}
	if err := l.writeClusterFile(); err != nil {
		return err
	}
	return l.writeState()
}

func (l *Lab) startOne(ctx, runCtx context.Context, s nodeSpec, user ssh.PublicKey, port string) (*labNode, error) {
	l.opts.Progress("starting node " + s.Name + " at " + s.Addr)
	base, err := startNode(ctx, s, filepath.Join(l.opts.Dir, "nodes", s.Name), filepath.Dir(l.bins.Etcd))
	if err != nil {
		return nil, err
	}
	n := &labNode{node: base}
	l.nodes[s.Name] = n
	l.order = append(l.order, s.Name)
	l.tl.add(Event{Node: s.Name, Kind: EvNodeUp, PID: base.pid, Detail: s.Addr})
	n.kubelet = newKubelet(base, l.tl)
	if n.kubelet.api, err = l.kubeletAPI(s); err != nil {
		return nil, err
	}
	n.kubelet.downAfterRestart = slices.Contains(l.opts.KubeletDown, s.Name)
	if n.stopCtl, err = serveCtl(runCtx, l.opts.Dir, n.kubelet); err != nil {
		return nil, err
	}
	l.wg.Add(1)
	go func() { defer l.wg.Done(); n.kubelet.run(runCtx) }()
	if l.opts.EtcdMode == EtcdModeSystemd && slices.Contains(s.Roles, "etcd") {
		if l.opts.EtcdUser != "" {
			if err := addServiceUser(ctx, base, l.opts.EtcdUser, s.ServiceUID); err != nil {
				return nil, err
			}
		}
		if err := n.kubelet.addUnit("etcd", etcdEnvFile, l.opts.EtcdUser, l.opts.UnitStartTimeout); err != nil {
			return nil, fmt.Errorf("node %s: %w", s.Name, err)
		}
	}
	hostKey, err := newSigner("", "")
	if err != nil {
		return nil, err
	}
	n.hostKeys = []ssh.Signer{hostKey}
	n.ssh, err = sshserver.Start(sshserver.Config{
		Addr:           net.JoinHostPort(s.Addr, port),
		HostKeys:       n.hostKeys,
		AuthorizedKeys: []ssh.PublicKey{user},
		Command:        n.sshCommand,
		OnExec: func(user, line string, started time.Time) {
			l.tl.add(Event{Time: started, Node: s.Name, Kind: EvSSHExec, Command: line, Detail: "user " + user})
		},
		OnExit: func(user, line string, code int, d time.Duration) {
			l.tl.add(Event{Node: s.Name, Kind: EvSSHExit, Command: line, Exit: &code, Detail: d.String()})
		},
	})
	if err != nil {
		return nil, fmt.Errorf("node %s: ssh server on %s: %w", s.Name, s.Addr, err)
	}
	return n, nil
}

// sshCommand runs an SSH command line inside the node, as a login shell on a
// real node would; a line matching a hang pattern (fault knob) never ends.
func (n *labNode) sshCommand(ctx context.Context, line string, env []string) *exec.Cmd {
	n.hangMu.Lock()
	for _, re := range n.hang {
		if re.MatchString(line) {
			line = "exec sleep 2147483647"
			break
		}
	}
	var before []beforeCommand
	for _, b := range n.before {
		if b.re.MatchString(line) {
			before = append(before, b)
		}
	}
	n.hangMu.Unlock()
	for _, b := range before {
		b.do(ctx) // a fault's own failure shows as the command's
	}
	cmd := n.loginCommand(ctx, line) // node.go: the login's PATH
	cmd.Env = append(cmd.Env, env...)
	return cmd
}
