package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// Topologies and etcd modes the lab builds.
const (
	TopologyStacked  = "stacked"  // etcd members on the control-plane nodes (kubeadm default)
	TopologyExternal = "external" // separate etcd-N nodes at 127.B.30.N
	EtcdModeStatic   = "static-pod"
	EtcdModeSystemd  = "systemd" // etcd as a unit driven by systemctl, env in /etc/etcd.env
)

// MaxWorkers is the most workers a lab runs (w-N at 127.B.20.N, N ≤ 254).
const MaxWorkers = 200

// Options shape a lab.
type Options struct {
	Dir           string // lab dir: state, sandboxes, cluster.yaml; created if missing
	ControlPlanes int    // default 3
	Workers       int    // default 2
	Topology      string // stacked (default) | external
	EtcdMode      string // static-pod (default) | systemd
	EtcdNodes     int    // external topology: etcd-N nodes, default 3
	// Block is the second octet of every node address (127.Block.10.N), so
	// two labs on one machine do not collide. Default 0.
	Block int
	// SkipSeed leaves the cluster empty and takes no snapshot; by default Up
	// seeds it (see seed) so DIR/snapshot.db exists and cluster.yaml is
	// ready for a drill.
	SkipSeed bool
	// EtcdLB puts a load balancer (lb.go) at 127.B.40.1:2379 in front of
	// the members and points every apiserver's --etcd-servers at it.
	EtcdLB bool
	// UnitStartTimeout is the systemd-mode etcd unit's TimeoutStartSec
	// (Type=notify: the start job fails, and the process is killed, when
	// etcd has not reported ready by then). Default 90 s, systemd's; tests
	// shorten it.
	UnitStartTimeout time.Duration
	// Keys seeds that many raw keys (KeysPrefix) before the snapshot, and a
	// few changes to them after it (keyseed.go): real clusters hold 10k–1M.
	Keys int
	// KeyValueBytes fixes the size of every raw key's value; 0 (the
	// default) writes realistic sizes, 2–6 KiB with some of 48 KiB
	// (seedsize.go), as a real keyspace holds.
	KeyValueBytes int
	// EtcdVersion is the etcd the members run: "3.6.6" (the default, what
	// kubeadm v1.35.4 ships) or "3.7.3"; etcd.yaml's image tag says it.
	EtcdVersion string
	// HostEtcdTools installs etcdutl and etcdctl in every etcd node's
	// /usr/local/bin, as kubespray does. Without it a node has none, as a
	// kubeadm host (they live only inside the etcd image).
	HostEtcdTools bool
	// EtcdUser, in systemd mode, is the etcd unit's User= (older kubespray
	// units and distro packages run etcd as user etcd): each member gets
	// that system user, its data dir and TLS keys are owned by it, and the
	// unit runs etcd with its uid and gid, so a data dir it cannot read
	// (root:root 0700, as etcdutl under sudo makes it) stops etcd as on a
	// real host. Empty: the unit runs etcd as root. Needs the lab run as
	// root: a user namespace maps a second uid only for a privileged parent.
	EtcdUser string

	// NoEncryption turns encryption at rest off: by default every
	// apiserver encrypts Secrets with an aescbc key (encryption.go).
	NoEncryption bool
	// RegisterNodes creates each node's Node object and its static pods'
	// mirror pods before the seed, as a real kubelet does (register.go);
	// `etcd-dr init --kubeconfig` reads them.
	RegisterNodes bool
	// KubeletDown names nodes whose kubelet does not come back from its
	// next restart (step 5): fault kubelet-down@NODE (KubeletDown).
	KubeletDown []string
	// Kubelet picks the node software: "lab" (the default, the lab
	// kubelet) or "real": kubeadm-made nodes under the real kubelet and
	// containerd (realtier.go; needs root). On the real tier Block is the
	// slot (0-15) in 198.51.100.0/24.
	Kubelet string
	// SnapshotFrom, when set, writes snapshot.from into cluster.yaml (the
	// snapshot is taken from a member's data, "best-member" or a node), and
	// lab verify then wants the writes made after snapshot.db served.
	SnapshotFrom string
	Progress     func(string)

	etcdUID int // EtcdUser's uid (and gid) on the members, see serviceID
}

func (o *Options) defaults() error {
	if o.Dir == "" {
		return errors.New("lab: Options.Dir is required")
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("lab: dir %s: %w", o.Dir, err)
	}
	o.Dir = abs
	if o.ControlPlanes == 0 {
		o.ControlPlanes = 3
	}
	if o.Topology == "" {
		o.Topology = TopologyStacked
	}
	if o.EtcdMode == "" {
		o.EtcdMode = EtcdModeStatic
	}
	if o.Topology != TopologyStacked && o.Topology != TopologyExternal {
		return fmt.Errorf("lab: topology %q: use %s or %s", o.Topology, TopologyStacked, TopologyExternal)
	}
	if o.EtcdMode != EtcdModeStatic && o.EtcdMode != EtcdModeSystemd {
		return fmt.Errorf("lab: etcd mode %q: use %s or %s", o.EtcdMode, EtcdModeStatic, EtcdModeSystemd)
	}
	if o.Topology == TopologyExternal && o.EtcdNodes == 0 {
		o.EtcdNodes = 3
	}
	// Workers are cheap (a sleeping init, an in-process SSH server and a
	// manifest poll each): 127.B.20.1–254 holds them, capped lower so a lab
	// stays within what one machine runs. Members are real etcds.
	if o.ControlPlanes < 1 || o.ControlPlanes > 9 || o.Workers < 0 || o.Workers > MaxWorkers || o.EtcdNodes < 0 ||
		o.EtcdNodes > 9 || o.Block < 0 || o.Block > 254 || o.Keys < 0 || o.KeyValueBytes < 0 {
		return fmt.Errorf("lab: want 1–9 control-plane nodes, 0–%d workers, 0–9 etcd nodes and block 0–254; got %d, %d, %d, %d",
			MaxWorkers, o.ControlPlanes, o.Workers, o.EtcdNodes, o.Block)
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if err := o.realDefaults(); err != nil {
		return err
	}
	if o.EtcdUser != "" {
		if err := o.etcdUserDefaults(); err != nil {
			return err
		}
	}
	o.EtcdVersion, err = NormalizeEtcdVersion(o.EtcdVersion)
	return err
}

// Lab is a running drill lab.
type Lab struct {
	opts  Options
	state State
	pki   *PKI
	tl    *timeline
	bins  Binaries

	cancel context.CancelFunc
	wg     sync.WaitGroup
	nodes  map[string]*labNode
	order  []string
	lb     *LB // Options.EtcdLB
	// enc are the encryption-at-rest keys every apiserver holds, the
	// encrypting one first (nil: Options.NoEncryption).
	enc []encKey
	// real is the real-kubelet tier's cluster (Options.Kubelet "real").
	real *realTier

	downOnce sync.Once
	downErr  error
}

// labNode is a node with its kubelet, control server and SSH server.
type labNode struct {
	*node
	kubelet  *kubelet
	ssh      *sshserver.Server
	stopCtl  func()
	hangMu   sync.Mutex
	hang     []*regexp.Regexp // fault knob: commands matching hang forever
	before   []beforeCommand  // fault knob: run before a command matching
	hostKeys []ssh.Signer
}

// State is what DIR/lab.json records: enough for `lab status`, `lab verify`
// and `lab down` from another process.
type State struct {
	Dir         string      `json:"dir"`
	DaemonPID   int         `json:"daemonPid"`
	Started     time.Time   `json:"started"`
	Nodes       []NodeState `json:"nodes"`
	Tokens      Tokens      `json:"tokens"`
	ClusterFile string      `json:"clusterFile"`
}

// NodeState is one node in lab.json.
type NodeState struct {
	nodeSpec
	SSHAddr string `json:"sshAddr"`
	InitPID int    `json:"initPid"`
}

// Names of files in the lab dir.
const (
	stateFile     = "lab.json"
	clusterFile   = "cluster.yaml"
	knownHostFile = "known_hosts"
	identityFile  = "id_ed25519"
)

// specs lays out the nodes: cp-N at 127.B.10.N, w-N at 127.B.20.N and, in
// the external topology, etcd-N at 127.B.30.N.
func (o Options) specs() []nodeSpec {
	if o.Kubelet == KubeletReal {
		return o.realSpecs()
	}
	var out []nodeSpec
	cpRoles := []string{"control-plane", "etcd"}
	if o.Topology == TopologyExternal {
		cpRoles = []string{"control-plane"}
		for i := 1; i <= o.EtcdNodes; i++ {
			out = append(out, nodeSpec{Name: fmt.Sprintf("etcd-%d", i), Addr: fmt.Sprintf("127.%d.30.%d", o.Block, i),
				Roles: []string{"etcd"}, ServiceUID: o.etcdUID})
		}
	}
	for i := 1; i <= o.ControlPlanes; i++ {
		uid := 0
		if slices.Contains(cpRoles, "etcd") {
			uid = o.etcdUID
		}
		out = append(out, nodeSpec{Name: fmt.Sprintf("cp-%d", i), Addr: fmt.Sprintf("127.%d.10.%d", o.Block, i),
			Roles: slices.Clone(cpRoles), ServiceUID: uid})
	}
	for i := 1; i <= o.Workers; i++ {
		out = append(out, nodeSpec{Name: fmt.Sprintf("w-%d", i), Addr: fmt.Sprintf("127.%d.20.%d", o.Block, i),
			Roles: []string{"worker"}})
	}
	return out
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Up builds and starts a lab in this process and waits until every etcd
// member is healthy and every apiserver ready. Down (or ctx's end) stops it.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	if opts.Kubelet == KubeletReal {
		return upReal(ctx, opts)
	}
	for _, tool := range []string{"nsenter", "unshare", "mount", "curl", "sh", "setpriv"} {
		if !commandExists(tool) {
			return nil, fmt.Errorf("lab up: %s is not installed on this machine; the lab needs util-linux and curl", tool)
		}
	}
	if err := claimDir(opts.Dir); err != nil {
		return nil, err
	}
	if st, err := ReadStatus(opts.Dir); err == nil && st.Running {
		return nil, fmt.Errorf("lab up: a lab already runs in %s (daemon pid %d); run `etcd-dr lab down --dir %s` first",
			opts.Dir, st.DaemonPID, opts.Dir)
	}
	if err := addressesFree(opts.specs()); err != nil {
		return nil, err
	}
	bins, err := EnsureBinaries(ctx, opts.EtcdVersion, opts.Progress)
	if err != nil {
		return nil, err
	}
	l, err := prepare(opts, bins)
	if err != nil {
		return nil, err
	}
	if err := l.start(ctx); err != nil {
		_ = l.Down()
		return nil, err
	}
	if err := l.waitReady(ctx); err != nil {
		_ = l.Down()
		return nil, err
	}
	if err := l.writeAdminKubeconfig(); err != nil {
		_ = l.Down()
		return nil, err
	}
	if opts.RegisterNodes {
		if err := l.registerNodes(ctx); err != nil {
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
	opts.Progress(fmt.Sprintf("lab up in %s: %d control-plane, %d workers; cluster file %s",
		opts.Dir, opts.ControlPlanes, opts.Workers, l.state.ClusterFile))
	return l, nil
}

// Dir is the lab's directory.
func (l *Lab) Dir() string { return l.opts.Dir }

// ClusterFile is the path of the cluster.yaml written for the lab.
func (l *Lab) ClusterFile() string { return l.state.ClusterFile }

// Nodes lists the lab's nodes with their SSH addresses and init pids.
func (l *Lab) Nodes() []NodeState { return slices.Clone(l.state.Nodes) }

// Tokens are the lab's bearer tokens (Admin reads and writes anything).
func (l *Lab) Tokens() Tokens { return l.state.Tokens }

// Down stops every process of the lab (pods, SSH servers, node namespaces)
// and waits for them. It is safe to call more than once.
func (l *Lab) Down() error {
	if l.real != nil {
		return l.downReal()
	}
	l.downOnce.Do(func() {
		var errs []error
		l.cancel() // kubelets stop their pods (SIGTERM, then SIGKILL)
		l.wg.Wait()
		for _, name := range l.order {
			n := l.nodes[name]
			if n.ssh != nil {
				if err := n.ssh.Close(); err != nil {
					errs = append(errs, fmt.Errorf("node %s: close ssh: %w", name, err))
				}
			}
			if n.stopCtl != nil {
				n.stopCtl()
			}
			n.stop()
			l.tl.add(Event{Node: name, Kind: EvNodeDown, PID: n.pid})
		}
		if err := l.closeLB(); err != nil {
			errs = append(errs, err)
		}
		l.tl.close()
		l.state.DaemonPID = 0
		if err := l.writeState(); err != nil {
			errs = append(errs, err)
		}
		l.downErr = errors.Join(errs...)
	})
	return l.downErr
}

func (l *Lab) writeState() error {
	b, err := json.MarshalIndent(l.state, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.opts.Dir, stateFile), b, 0o600)
}

// writeFileAtomic replaces path so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// members are the etcd member nodes, in order.
func (o Options) members() []nodeSpec {
	var out []nodeSpec
	for _, s := range o.specs() {
		if slices.Contains(s.Roles, "etcd") {
			out = append(out, s)
		}
	}
	return out
}

// nodeNames lists node names with a role prefix ("cp-", "w-"), in order.
func (l *Lab) nodeNames(prefix string) []string {
	var out []string
	for _, n := range l.order {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// commandExists reports whether name resolves on the host's PATH; Up checks
// the tools a lab needs before building anything.
func commandExists(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}

// addressesFree fails fast when another lab (or anything) holds a node's
// etcd or apiserver port: two labs on one block would join each other's
// etcd clusters.
func addressesFree(specs []nodeSpec) error {
	for _, s := range specs {
		for _, port := range []string{"2379", "2380", "6443"} {
			ln, err := net.Listen("tcp", net.JoinHostPort(s.Addr, port))
			if err != nil {
				return fmt.Errorf("lab up: %s:%s (node %s) is in use: another lab runs on this address block; "+
					"stop it or pick another Options.Block: %w", s.Addr, port, s.Name, err)
			}
			_ = ln.Close()
		}
	}
	return nil
}
