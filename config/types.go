// Package config loads, defaults and validates the cluster file: the operator's
// description of the cluster to restore. Every error names file:line:col.
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
}

// Snapshot says where the snapshot to restore lives.
type Snapshot struct {
	Path string `yaml:"path" json:"path"`
	// On is "bastion" (the machine running etcd-dr; streamed to each member)
	// or the name of a node holding the file locally.
	On string `yaml:"on" json:"on"`
}

// SSH is how etcd-dr reaches nodes.
type SSH struct {
	User           string        `yaml:"user" json:"user"`
	Port           int           `yaml:"port" json:"port"`
	IdentityFiles  []string      `yaml:"identityFiles" json:"identityFiles"`
	KnownHosts     string        `yaml:"knownHosts" json:"knownHosts"`
	JumpHost       string        `yaml:"jumpHost" json:"jumpHost"` // [user@]host[:port]
	Sudo           bool          `yaml:"sudo" json:"sudo"`
	ConnectTimeout time.Duration `yaml:"connectTimeout" json:"connectTimeout"`
	CommandTimeout time.Duration `yaml:"commandTimeout" json:"commandTimeout"`
	Keepalive      time.Duration `yaml:"keepalive" json:"keepalive"` // interval; dead after 3 missed
	Concurrency    int           `yaml:"concurrency" json:"concurrency"`
}

// Etcd describes how etcd runs and where restored data goes.
type Etcd struct {
	Mode            string `yaml:"mode" json:"mode"`
	ManifestsDir    string `yaml:"manifestsDir" json:"manifestsDir"`
	ParkDir         string `yaml:"parkDir" json:"parkDir"`
	RestoredDataDir string `yaml:"restoredDataDir" json:"restoredDataDir"` // may contain {{.Time}}
	// BumpRevision is "auto" (live - snapshot + margin, 1e9 if unknown) or a number.
	BumpRevision  string `yaml:"bumpRevision" json:"bumpRevision"`
	MarkCompacted bool   `yaml:"markCompacted" json:"markCompacted"`
	// SystemdUnit names the unit in systemd mode.
	SystemdUnit string `yaml:"systemdUnit" json:"systemdUnit"`
	// EnvFile is the etcd environment file in systemd mode (kubespray: /etc/etcd.env).
	EnvFile string `yaml:"envFile" json:"envFile"`
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
	User    string   `yaml:"user,omitempty" json:"user,omitempty"` // 0 = ssh.user
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
