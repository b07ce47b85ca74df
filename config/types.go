// Package config loads, defaults and validates the cluster file: the operator's
// description of the cluster to restore.
//
// Load (or LoadEnv with a fixed Env, for tests) returns the effective
// Cluster: every default filled, bastion-side paths (snapshot on the bastion,
// ssh.identityFiles, ssh.knownHosts, state.dir) expanded for ~ and $VARS and
// made absolute relative to the cluster file's directory. Node-side paths are
// kept as written and must be absolute.
//
// Problems come back all at once, each as a Diagnostic naming file:line:col:
// errors in an *Errors (Load then returns no Cluster), warnings beside it.
// The file is walked as yaml.v3 nodes rather than decoded into the structs
// directly, so unknown keys, wrong types and bad durations are all reported
// with their position instead of stopping at the first.
package config

import "time"

// Roles a node may carry.
const (
	RoleControlPlane = "control-plane"
	RoleEtcd         = "etcd"
	RoleWorker       = "worker"
)

// Etcd modes: how etcd runs on its nodes.
const (
	EtcdModeStaticPod = "static-pod" // kubeadm: /etc/kubernetes/manifests/etcd.yaml
	EtcdModeSystemd   = "systemd"    // kubespray host mode / external etcd: a systemd unit
)

// Snapshot locations.
const SnapshotOnBastion = "bastion"

// SnapshotFromBestMember (snapshot.from) takes the snapshot from the
// cluster itself: the member whose data is the most advanced, picked at a
// gate (steps/source_member.go).
const SnapshotFromBestMember = "best-member"

// Cluster is the effective cluster file after defaults are filled.
type Cluster struct {
	// File is the path the cluster file was read from (not a YAML key).
	File string `yaml:"-" json:"-"`

	Name      string    `yaml:"cluster" json:"cluster"`
	Snapshot  Snapshot  `yaml:"snapshot" json:"snapshot"`
	SSH       SSH       `yaml:"ssh" json:"ssh"`
	Etcd      Etcd      `yaml:"etcd" json:"etcd"`
	Apiserver Apiserver `yaml:"apiserver" json:"apiserver"`
	State     State     `yaml:"state" json:"state"`
	Nodes     []Node    `yaml:"nodes" json:"nodes"`
	Readiness Readiness `yaml:"readiness,omitempty" json:"readiness,omitzero"`
	Verify    Verify    `yaml:"verify,omitempty" json:"verify,omitzero"`
}

// Verify configures the verify step's convergence work.
type Verify struct {
	// Addons are restarted after the restore (as `kubectl rollout restart`
	// does) behind the verify gate and waited on until ready. nil (unset):
	// kube-proxy and CoreDNS in kube-system and the CNI DaemonSet found;
	// an empty list: none.
	Addons []Addon `yaml:"addons,omitempty" json:"addons,omitempty"`
}

// Addon names one workload to restart.
type Addon struct {
	Kind      string `yaml:"kind" json:"kind"` // DaemonSet, Deployment or StatefulSet
	Namespace string `yaml:"namespace" json:"namespace"`
	Name      string `yaml:"name" json:"name"`
}

// AddonKinds are the kinds `kubectl rollout restart` restarts.
var AddonKinds = []string{"DaemonSet", "Deployment", "StatefulSet"}

// Readiness holds the operator's explicit overrides of the readiness
// report's checks (steps/readiness.go): each names a check that failed and
// that the operator has decided to restore past; it is shown and journaled.
type Readiness struct {
	Override []string `yaml:"override,omitempty" json:"override,omitempty"`
}

// ReadinessChecks are the readiness checks an override may name. The etcd
// versions check is not among them: an etcd that refuses the restored data
// cannot be overridden into starting.
var ReadinessChecks = []string{"encryption-at-rest", "ca-era", "certificates", "quota-and-disk", "automation"}

// Snapshot says where the snapshot to restore lives.
type Snapshot struct {
	Path string `yaml:"path" json:"path"`
	// On is "bastion" (the machine running etcd-dr; streamed to each member)
	// or the name of a node holding the file locally.
	On string `yaml:"on" json:"on"`
	// MembersRenamed accepts a snapshot whose member names share none with
	// the cluster's: the cluster was rebuilt under new names on purpose.
	// Without it such a snapshot is refused as another cluster's data.
	MembersRenamed bool `yaml:"membersRenamed" json:"membersRenamed"`
	// From, when set, takes the snapshot from a surviving member's data
	// (member/snap/db) instead of a file: "best-member" (the most advanced
	// reachable member, the operator confirming at a gate) or a member's
	// node name. With Path also given, that file is only compared with the
	// members, never restored.
	From string `yaml:"from,omitempty" json:"from,omitempty"`
}

// SSH is how etcd-dr reaches nodes.
type SSH struct {
	User           string        `yaml:"user" json:"user"`
	Port           int           `yaml:"port" json:"port"`
	IdentityFiles  []string      `yaml:"identityFiles" json:"identityFiles"`
	KnownHosts     string        `yaml:"knownHosts" json:"knownHosts"`
	JumpHost       string        `yaml:"jumpHost,omitempty" json:"jumpHost,omitempty"` // [user@]host[:port]
	Sudo           bool          `yaml:"sudo" json:"sudo"`
	ConnectTimeout time.Duration `yaml:"connectTimeout" json:"connectTimeout"`
	CommandTimeout time.Duration `yaml:"commandTimeout" json:"commandTimeout"`
	Keepalive      time.Duration `yaml:"keepalive" json:"keepalive"` // interval; dead after 2 without a reply
	Concurrency    int           `yaml:"concurrency" json:"concurrency"`
	// Config is the OpenSSH client configuration each node is resolved
	// through (ssh -G): "" is OpenSSH's own (~/.ssh/config and
	// /etc/ssh/ssh_config), a path is read instead (ssh -F), "none" reads
	// none (the drill lab). The keys this file sets override it.
	Config string `yaml:"config,omitempty" json:"config,omitempty"`
	// Given says which keys the file set itself rather than left to
	// defaults: OpenSSH's configuration fills only the others.
	Given SSHGiven `yaml:"-" json:"-"`
}

// SSHGiven records which ssh keys the cluster file set.
type SSHGiven struct {
	User, Port, IdentityFiles, KnownHosts bool
}

// SSHConfigNone is ssh.config's value for "read no OpenSSH configuration".
const SSHConfigNone = "none"

// Etcd describes how etcd runs and where restored data goes.
type Etcd struct {
	Mode            string `yaml:"mode" json:"mode"`
	ManifestsDir    string `yaml:"manifestsDir" json:"manifestsDir"`
	ParkDir         string `yaml:"parkDir" json:"parkDir"`
	RestoredDataDir string `yaml:"restoredDataDir" json:"restoredDataDir"` // may contain {{.Time}}
	// BumpRevision is "auto" (live - snapshot + margin, 1e9 if unknown) or a number.
	BumpRevision  string `yaml:"bumpRevision" json:"bumpRevision"`
	MarkCompacted bool   `yaml:"markCompacted" json:"markCompacted"`
	// SystemdUnit names the unit in systemd mode (empty in static-pod mode).
	SystemdUnit string `yaml:"systemdUnit,omitempty" json:"systemdUnit,omitempty"`
	// EnvFile is the etcd environment file in systemd mode (kubespray:
	// /etc/etcd.env; empty in static-pod mode).
	EnvFile string `yaml:"envFile,omitempty" json:"envFile,omitempty"`
	// ToolsDir is a bastion directory holding static etcdutl-vX.Y.Z and
	// etcdctl-vX.Y.Z binaries to bring to the nodes (an air-gapped bastion
	// given a prepared directory). Empty: the cache `etcd-dr tools build` fills.
	ToolsDir string `yaml:"toolsDir,omitempty" json:"toolsDir,omitempty"`
}

// Apiserver holds apiserver settings the procedure may change.
type Apiserver struct {
	// EtcdServers, when set, is the --etcd-servers value the apiservers must
	// use after the restore (step 3). Empty: derived from the members.
	EtcdServers string `yaml:"etcdServers" json:"etcdServers"`
	// LoadBalancer, when true, means --etcd-servers points at a load balancer
	// in front of etcd: step 3 becomes a manual gate listing new backends.
	LoadBalancer bool `yaml:"loadBalancer" json:"loadBalancer"`
	Port         int  `yaml:"port" json:"port"`
}

// State is where the journal and transcript live on the bastion.
type State struct {
	Dir string `yaml:"dir" json:"dir"`
}

// Node is one machine of the cluster.
type Node struct {
	Name    string   `yaml:"name" json:"name"`
	Address string   `yaml:"address" json:"address"`
	Port    int      `yaml:"port,omitempty" json:"port,omitempty"` // SSH port; 0 = ssh.port
	User    string   `yaml:"user,omitempty" json:"user,omitempty"` // "" = ssh.user
	Roles   []string `yaml:"roles" json:"roles"`
	Line    int      `yaml:"-" json:"-"` // line of the node in the file, for messages
}

// Has reports whether the node carries role.
func (n Node) Has(role string) bool {
	for _, r := range n.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// SSHUser is the login for n: its own user, else ssh.user.
func (c *Cluster) SSHUser(n Node) string {
	if n.User != "" {
		return n.User
	}
	return c.SSH.User
}

// SSHPort is the SSH port for n: its own port, else ssh.port.
func (c *Cluster) SSHPort(n Node) int {
	if n.Port != 0 {
		return n.Port
	}
	return c.SSH.Port
}

// NodesWith returns the nodes carrying role, in file order.
func (c *Cluster) NodesWith(role string) []Node {
	var out []Node
	for _, n := range c.Nodes {
		if n.Has(role) {
			out = append(out, n)
		}
	}
	return out
}

// Node returns the node named name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}
