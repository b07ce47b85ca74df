package lab

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// Values of Options.Kubelet.
const (
	KubeletLab  = "lab"  // the lab kubelet (default)
	KubeletReal = "real" // the real kubelet v1.35.4 and containerd, files by kubeadm (docs/real-kubelet.md)
)

// realTier is what a real-tier lab runs besides the kubeadm-made cluster:
// per node an SSH server inside the node's network namespace, the shims'
// control server, and the CRI watcher writing pod events to the timeline.
type realTier struct {
	cluster *realnode.Cluster
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ssh     []*sshserver.Server
	ctl     []func()
	nodes   map[string]*realnode.ClusterNode
}

// realDefaults checks the options the real tier supports: what kubeadm
// v1.35.4 makes by default (stacked etcd 3.6.6 as static pods), one
// 198.51.100.0/24 slot (Block) and at most 13 nodes in it.
func (o *Options) realDefaults() error {
	switch o.Kubelet {
	case "", KubeletLab:
		o.Kubelet = KubeletLab
		return nil
	case KubeletReal:
	default:
		return fmt.Errorf("lab: kubelet %q: use %s or %s", o.Kubelet, KubeletLab, KubeletReal)
	}
	var bad []string
	if o.Topology != TopologyStacked || o.EtcdMode != EtcdModeStatic {
		bad = append(bad, "only the stacked topology with static-pod etcd (what kubeadm makes)")
	}
	// kubeadm hosts have no etcdutl or etcdctl (they are only in the etcd
	// image): that is this tier's only shape, so --host-etcd-tools is refused.
	if o.EtcdLB || o.EtcdUser != "" || o.HostEtcdTools || o.RegisterNodes {
		bad = append(bad, "no --etcd-lb, --etcd-user, --host-etcd-tools (kubeadm hosts have no etcd tools: the tier's default) or --register-nodes (the real kubelets register their Nodes)")
	}
	if v, _ := NormalizeEtcdVersion(o.EtcdVersion); v != "" && v != "v"+strings.TrimSuffix(realnode.EtcdTag, "-0") {
		bad = append(bad, "etcd "+strings.TrimSuffix(realnode.EtcdTag, "-0")+" only (the image kubeadm v1.35.4 names)")
	}
	if o.Block < 0 || o.Block >= realnode.MaxSlots {
		bad = append(bad, fmt.Sprintf("--block is the slot in %s: 0-%d", realnode.NetPrefix, realnode.MaxSlots-1))
	}
	if o.ControlPlanes+o.Workers > 13 {
		bad = append(bad, "at most 13 nodes (one /28 of "+realnode.NetPrefix+")")
	}
	if len(bad) > 0 {
		return fmt.Errorf("lab: --kubelet real supports %s", strings.Join(bad, "; "))
	}
	return nil
}

// realSpecs lays out the real tier's nodes as realnode.UpCluster numbers
// them: cp-N is index N, w-M follows the control planes.
func (o Options) realSpecs() []nodeSpec {
	n := realnode.Net{Slot: o.Block}
	var out []nodeSpec
	for i := 1; i <= o.ControlPlanes; i++ {
		out = append(out, nodeSpec{Name: fmt.Sprintf("cp-%d", i), Addr: n.NodeAddr(i).String(), Roles: []string{"control-plane", "etcd"}})
	}
	for i := 1; i <= o.Workers; i++ {
		out = append(out, nodeSpec{Name: fmt.Sprintf("w-%d", i), Addr: n.NodeAddr(o.ControlPlanes + i).String(), Roles: []string{"worker"}})
	}
	return out
}

// upReal brings up the real tier: binaries and images, the kubeadm-made
// cluster, then what the engine and `lab verify` reach it by (SSH, sudo,
// systemctl, crictl, the bastion's PKI), the seed and the snapshot.
func upReal(ctx context.Context, opts Options) (*Lab, error) {
	if err := realnode.Check(); err != nil {
		return nil, fmt.Errorf("lab up --kubelet real: %w; the default tier (without --kubelet real) does not need it", err)
	}
	if !commandExists("curl") || !commandExists("perl") {
		return nil, errors.New("lab up --kubelet real: curl and perl are needed on this machine (the nodes' shims and init)")
	}
	if err := claimDir(opts.Dir); err != nil {
		return nil, err
	}
	if st, err := ReadStatus(opts.Dir); err == nil && st.Running {
		return nil, fmt.Errorf("lab up: a lab already runs in %s (daemon pid %d); run `etcd-dr lab down --dir %s` first",
			opts.Dir, st.DaemonPID, opts.Dir)
	}
	if why := realnode.InUse(ctx, opts.Block); why != "" {
		return nil, fmt.Errorf("lab up --kubelet real: slot %d is in use by another lab: %s; stop it or pick another --block", opts.Block, why)
	}
	rb, err := EnsureRealBinaries(ctx, opts.EtcdVersion, opts.Progress)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"nodes", "timeline", "state", "pki", "images"} {
		if err := os.RemoveAll(filepath.Join(opts.Dir, d)); err != nil {
			return nil, fmt.Errorf("lab up: clean %s: %w", d, err)
		}
	}
	archives, err := realArchives(ctx, filepath.Join(opts.Dir, "images"), rb, opts.Progress)
	if err != nil {
		return nil, err
	}
	tl, err := newTimeline(filepath.Join(opts.Dir, "timeline"))
	if err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, tl: tl, bins: rb.Binaries, nodes: map[string]*labNode{}, cancel: func() {},
		state: State{Dir: opts.Dir, DaemonPID: os.Getpid(), Started: time.Now(),
			Tokens: Tokens{Kubelets: map[string]string{}}, ClusterFile: filepath.Join(opts.Dir, clusterFile)},
		real: &realTier{nodes: map[string]*realnode.ClusterNode{}}}
	start := time.Now()
	c, err := realnode.UpCluster(ctx, opts.Block, filepath.Join(opts.Dir, "nodes"), opts.ControlPlanes, opts.Workers,
		realnode.ClusterBinaries{Kubeadm: rb.Kubeadm, Kubelet: rb.Kubelet, Archives: archives},
		func(s string) { opts.Progress(fmt.Sprintf("%5.0fs %s", time.Since(start).Seconds(), s)) })
	l.real.cluster = c
	if err != nil {
		_ = l.Down()
		return nil, fmt.Errorf("lab up --kubelet real: %w; node logs (kubelet.log, containerd.log) in %s", err, filepath.Join(opts.Dir, "nodes"))
	}
	if err := l.startReal(ctx); err != nil {
		_ = l.Down()
		return nil, err
	}
	if err := l.waitReady(ctx); err != nil {
		_ = l.Down()
		return nil, err
	}
	for _, name := range opts.KubeletDown {
		if err := l.realKubeletDown(name); err != nil {
			_ = l.Down()
			return nil, err
		}
	}
	if !opts.SkipSeed {
		opts.Progress("seeding: objects, snapshot " + filepath.Join(opts.Dir, "snapshot.db") + ", post-snapshot writes")
		if _, err := l.seed(ctx); err != nil {
			_ = l.Down()
			return nil, err
		}
	}
	opts.Progress(fmt.Sprintf("lab up (real kubelet) in %s: %d control-plane, %d workers; cluster file %s",
		opts.Dir, opts.ControlPlanes, opts.Workers, l.state.ClusterFile))
	return l, nil
}

// realArchives builds the control-plane images (kubeadm's names) from the
// cached binaries as OCI archives under dir.
func realArchives(ctx context.Context, dir string, rb RealBinaries, progress func(string)) (map[string]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	progress("building images " + strings.Join(slices.Sorted(maps.Values(realnode.Images())), ", "))
	pause, err := realnode.EnsurePause(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, spec := range realnode.ControlPlaneImages(rb.Etcd, rb.Etcdctl, rb.Etcdutl, rb.KubeApiserver, rb.KubeControllerManager, rb.KubeScheduler, pause) {
		a := filepath.Join(dir, realnode.ArchiveName(spec.Name))
		if err := realnode.BuildArchive(spec, a); err != nil {
			return nil, err
		}
		out[spec.Name] = a
	}
	return out, nil
}

// startReal gives every node what the engine reaches a node by, and the
// bastion what an operator has: SSH on the node's address (port 22, its
// own host key in known_hosts), sudo, systemctl and crictl shims, the
// cluster CA, an etcd client cert and admin.conf.
func (l *Lab) startReal(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(context.Background())
	l.real.cancel = cancel
	userKey, err := newSigner(filepath.Join(l.opts.Dir, identityFile), "etcd-dr-lab")
	if err != nil {
		return err
	}
	if err := l.writeRealBastionPKI(ctx); err != nil {
		return err
	}
	specs := map[string]nodeSpec{}
	for _, s := range l.opts.specs() {
		specs[s.Name] = s
	}
	var known strings.Builder
	for _, cn := range l.real.cluster.Nodes {
		s, ok := specs[cn.Name]
		if !ok || s.Addr != cn.Addr.String() {
			return fmt.Errorf("lab up --kubelet real: node %s at %s is not in the lab's layout", cn.Name, cn.Addr)
		}
		l.real.nodes[cn.Name] = cn
		l.nodes[cn.Name] = &labNode{node: &node{spec: s, dir: cn.Dir, pid: cn.InitPID}}
		l.order = append(l.order, cn.Name)
		l.tl.add(Event{Node: cn.Name, Kind: EvNodeUp, PID: cn.InitPID, Detail: s.Addr})
		if err := l.setupRealNode(ctx, cn); err != nil {
			return err
		}
		stop, err := l.serveRealCtl(runCtx, cn)
		if err != nil {
			return err
		}
		l.real.ctl = append(l.real.ctl, stop)
		l.real.wg.Add(1)
		go func() { defer l.real.wg.Done(); l.watchPods(runCtx, cn) }()
		srv, hostKey, err := l.startRealSSH(cn, userKey.PublicKey())
		if err != nil {
			return err
		}
		l.real.ssh = append(l.real.ssh, srv)
		known.WriteString(knownHostsLine(srv.Addr(), hostKey) + "\n")
		l.state.Nodes = append(l.state.Nodes, NodeState{nodeSpec: s, SSHAddr: srv.Addr(), InitPID: cn.InitPID})
	}
	if err := writeFileAtomic(filepath.Join(l.opts.Dir, knownHostFile), []byte(known.String()), 0o644); err != nil {
		return err
	}
	if err := l.writeClusterFile(); err != nil {
		return err
	}
	return l.writeState()
}

// setupRealNode gives the node a home for SSH sessions (/root, its own),
// sudo (the default tier's: RHEL secure_path and env_reset) in
// /usr/local/bin, and the systemctl and crictl shims in /run/lab/sbin,
// first on the login PATH and on sudo's secure_path, as on the default
// tier. The shims reach the lab daemon on a unix socket in the node's
// directory (a path: an abstract socket is per network namespace).
func (l *Lab) setupRealNode(ctx context.Context, cn *realnode.ClusterNode) error {
	home := filepath.Join(cn.Dir, "root")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	if _, err := cn.Run(ctx, "sh", "-c", `mountpoint -q /root || mount --bind "$1" /root`, "sh", home); err != nil {
		return err
	}
	files := map[string]string{"/usr/local/bin/sudo": sudoShim(secureRHEL)}
	for _, tool := range []string{"systemctl", "crictl"} {
		files[sysShimDir+"/"+tool] = realCtlShim(tool, realCtlSocket(cn))
	}
	for p, body := range files {
		if err := cn.WriteFile(ctx, p, body); err != nil {
			return err
		}
		if _, err := cn.Run(ctx, "chmod", "0755", p); err != nil {
			return err
		}
	}
	return nil
}

// realKubeletDown is the fault kubelet-down@NODE on the real tier: from
// the node's next `systemctl restart kubelet` (step 5) on, its real
// kubelet refuses to start (realnode.DownFlag) and kubeadm's unit
// crash-loops; the static pods keep running, the Lease is not renewed.
func (l *Lab) realKubeletDown(name string) error {
	cn, ok := l.real.nodes[name]
	if !ok || cn.Kubelet == nil {
		return fmt.Errorf("lab: kubelet-down: no node %s with a kubelet on the real tier", name)
	}
	cn.Kubelet.SetDownAfterRestart()
	return nil
}

// realFaults are the registered faults the real tier makes (the others
// reach into the lab kubelet or the default tier's nodes).
var realFaults = []string{"kubelet-down", "kubelet-sources-not-ready", FaultNewerEtcdSnapshot}

// kubeletConf is the kubeconfig kubeadm's kubelet unit starts the kubelet
// with (realnode.KubeletCommand).
const kubeletConf = "/etc/kubernetes/kubelet.conf"

// deadAPIPort is a port no apiserver of the tier listens on.
const deadAPIPort = "6444"

// realSourcesNotReady is the fault kubelet-sources-not-ready on the real
// tier, made for real: the node's kubelet.conf points at an apiserver that
// does not answer (a load balancer down, a stale endpoint), and the real
// kubelet is restarted as `systemctl restart kubelet` does. Its API source
// then never syncs, and kubelet.go's deletePod skips every pod delete
// ("sources aren't ready"). on=false puts kubeadm's kubelet.conf back and
// restarts the kubelet again.
func (l *Lab) realSourcesNotReady(ctx context.Context, name string, on bool) error {
	cn, ok := l.real.nodes[name]
	if !ok || cn.Kubelet == nil {
		return fmt.Errorf("lab: kubelet-sources-not-ready: no node %s with a kubelet on the real tier", name)
	}
	saved := kubeletConf + ".lab-fault"
	if on {
		conf, err := cn.ReadFile(ctx, kubeletConf)
		if err != nil {
			return err
		}
		dead, n := deadServer(conf)
		if n != 1 {
			return fmt.Errorf("lab: kubelet-sources-not-ready: %s on %s has %d server: lines, want 1", kubeletConf, name, n)
		}
		if _, err := cn.Run(ctx, "cp", "-p", "--", kubeletConf, saved); err != nil {
			return err
		}
		if err := cn.WriteFile(ctx, kubeletConf, dead); err != nil {
			return err
		}
	} else if _, err := cn.Run(ctx, "mv", "--", saved, kubeletConf); err != nil {
		return err
	}
	stop := cn.Kubelet.Restart()
	l.tl.add(Event{Node: name, Kind: EvKubeletRestart,
		Detail: fmt.Sprintf("fault kubelet-sources-not-ready=%v: kubelet.conf's server changed, kubelet restarted (stopped in %s)", on, stop.Took.Round(time.Millisecond))})
	return nil
}

// deadServer points every `server: https://HOST:PORT` line of a kubeconfig
// at HOST:deadAPIPort, and counts the lines.
func deadServer(conf string) (string, int) {
	lines := strings.Split(conf, "\n")
	n := 0
	for i, line := range lines {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "server: https://")
		if !ok {
			continue
		}
		host, _, err := net.SplitHostPort(v)
		if err != nil {
			continue
		}
		lines[i] = line[:strings.Index(line, "server:")] + "server: https://" + net.JoinHostPort(host, deadAPIPort)
		n++
	}
	return strings.Join(lines, "\n"), n
}

// realFaultMade refuses, on the real tier, a fault it does not make yet,
// naming those it does; on the default tier every fault is made.
func (l *Lab) realFaultMade(name string) error {
	if l.real == nil || slices.Contains(realFaults, name) {
		return nil
	}
	return fmt.Errorf("fault %s is not made on the real tier (--kubelet real) yet; it makes %s", name, strings.Join(realFaults, ", "))
}

func realCtlSocket(cn *realnode.ClusterNode) string { return filepath.Join(cn.Dir, "ctl.sock") }

// realCtlShim is ctlShim with a path socket.
func realCtlShim(tool, sock string) string {
	return `#!/bin/sh
# ` + tool + ` for a real-tier lab node: the lab daemon drives the node's real
# kubelet service (systemctl) and asks its containerd over the CRI API (crictl).
resp=$(curl -sS --unix-socket '` + sock + `' --get --data-urlencode "args=$*" http://lab/` + tool + `) || {
  echo "` + tool + ` (lab): the lab daemon does not answer; is the lab up?" >&2; exit 1; }
code=$(printf '%s\n' "$resp" | head -n 1)
printf '%s\n' "$resp" | tail -n +2 | sed -e '${/^$/d;}'
exit "$code"
`
}

// startRealSSH starts the node's SSH server on its own address, port 22,
// listening inside the node's network namespace (as a node's sshd does);
// commands run inside all of the node's namespaces, in /root, with the
// default tier's login PATH.
func (l *Lab) startRealSSH(cn *realnode.ClusterNode, user ssh.PublicKey) (*sshserver.Server, ssh.PublicKey, error) {
	hostKey, err := newSigner("", "")
	if err != nil {
		return nil, nil, err
	}
	name := cn.Name
	cfg := sshserver.Config{
		Addr:           net.JoinHostPort(cn.Addr.String(), "22"),
		HostKeys:       []ssh.Signer{hostKey},
		AuthorizedKeys: []ssh.PublicKey{user},
		Command: func(ctx context.Context, line string, env []string) *exec.Cmd {
			argv := cn.Nsenter("sh", "-c", "cd /root || exit 125\n"+line)
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			cmd.Env = append([]string{"PATH=" + nodePath, "HOME=/root", "USER=root", "LANG=C.UTF-8"}, env...)
			return cmd
		},
		OnExec: func(user, line string, started time.Time) {
			l.tl.add(Event{Time: started, Node: name, Kind: EvSSHExec, Command: line, Detail: "user " + user})
		},
		OnExit: func(user, line string, code int, d time.Duration) {
			l.tl.add(Event{Node: name, Kind: EvSSHExit, Command: line, Exit: &code, Detail: d.String()})
		},
	}
	var srv *sshserver.Server
	err = inNetns(l.real.cluster.Net.NetnsName(name), func() error {
		var err error
		srv, err = sshserver.Start(cfg)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("node %s: ssh server on %s: %w", name, cfg.Addr, err)
	}
	return srv, hostKey.PublicKey(), nil
}

// inNetns runs fn on an OS thread moved into network namespace ns: a
// socket fn opens belongs to ns for its whole life. The thread then moves
// back and returns to the scheduler: a thread that exited would fire the
// Pdeathsig of every child it had forked (the nodes' inits among them).
// Only if it cannot move back is it left locked, to end with its goroutine.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// writeRealBastionPKI copies what an operator of a kubeadm cluster holds to
// DIR/pki: the cluster and etcd CAs, kubeadm's apiserver-etcd-client pair
// (the bastion's etcd client cert for seed and verify), admin.conf's client
// pair (DIR/pki/admin.crt, read by apiClientFor) and admin.conf itself.
func (l *Lab) writeRealBastionPKI(ctx context.Context) error {
	cp1 := l.real.cluster.Nodes[0]
	dir := filepath.Join(l.opts.Dir, "pki")
	copies := map[string]string{
		"ca.crt":                             "/etc/kubernetes/pki/ca.crt",
		"etcd/ca.crt":                        "/etc/kubernetes/pki/etcd/ca.crt",
		"bastion/apiserver-etcd-client.crt":  "/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"bastion/apiserver-etcd-client.key":  "/etc/kubernetes/pki/apiserver-etcd-client.key",
		filepath.Join("..", AdminKubeconfig): "/etc/kubernetes/admin.conf",
	}
	for dst, src := range copies {
		b, err := cp1.ReadFile(ctx, src)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
			return err
		}
	}
	admin, err := os.ReadFile(filepath.Join(l.opts.Dir, AdminKubeconfig))
	if err != nil {
		return err
	}
	for field, name := range map[string]string{"client-certificate-data": "admin.crt", "client-key-data": "admin.key"} {
		v := kubeconfigField(string(admin), field)
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || v == "" {
			return fmt.Errorf("lab up --kubelet real: admin.conf's %s: %v", field, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func kubeconfigField(conf, name string) string {
	for _, line := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+": "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// downReal stops the shims' servers, the SSH servers and the CRI
// watchers, then the cluster (kubelets, containerds, node namespaces, the
// bridge).
func (l *Lab) downReal() error {
	l.downOnce.Do(func() {
		rt := l.real
		if rt.cancel != nil {
			rt.cancel()
		}
		rt.wg.Wait()
		var errs []error
		for _, s := range rt.ssh {
			if err := s.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, stop := range rt.ctl {
			stop()
		}
		if rt.cluster != nil {
			rt.cluster.Down(context.Background())
		}
		for _, name := range l.order {
			l.tl.add(Event{Node: name, Kind: EvNodeDown, PID: l.nodes[name].pid})
		}
		l.tl.close()
		l.state.DaemonPID = 0
		if len(l.state.Nodes) > 0 {
			if err := l.writeState(); err != nil {
				errs = append(errs, err)
			}
		}
		l.downErr = errors.Join(errs...)
	})
	return l.downErr
}
