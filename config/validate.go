package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

// validator checks a decoded Cluster, reporting every problem it finds.
type validator struct {
	c    *Cluster
	d    *decoder
	r    *report
	env  Env
	base string // absolute directory of the cluster file
}

func (v *validator) validate() {
	v.clusterName()
	v.nodes()
	v.snapshot()
	v.ssh()
	v.etcd()
	v.apiserver()
	v.readiness()
	v.addons() // validate_addons.go
	if v.d.ok("state.dir") || !v.d.set("state.dir") {
		v.bastionPath("state.dir", &v.c.State.Dir)
	}
}

// clusterName checks the name the operator types at destructive gates: it
// must be typeable and unambiguous on a bastion terminal at 3 a.m.
func (v *validator) clusterName() {
	if v.d.bad["cluster"] {
		return
	}
	at, name := v.d.where("cluster"), v.c.Name
	const fix = "use letters, digits, '-', '_' and '.', like prod-eu1"
	if !v.d.set("cluster") || name == "" {
		v.r.errorf(at, "cluster: the cluster's name is missing; it is typed to confirm destructive steps (%s)", fix)
		return
	}
	for _, r := range name {
		switch {
		case badChar(string(r)) != "":
			v.r.errorf(at, "cluster: %q contains %s, which cannot be typed at a gate; %s", name, badChar(string(r)), fix)
		case r == ' ' || r == '\t':
			v.r.errorf(at, "cluster: %q contains whitespace, easy to mistype at a gate; %s", name, fix)
		case r > 0x7e:
			v.r.errorf(at, "cluster: %q contains %q (%U), which may look like an ASCII letter but will not match one typed at a gate; %s", name, r, r, fix)
		case !isNameChar(r):
			v.r.errorf(at, "cluster: %q contains %q; %s", name, r, fix)
		default:
			continue
		}
		return
	}
	if !isAlnum(rune(name[0])) {
		// The name may end up in file names: "..", ".hidden" and "-rf" must not.
		v.r.errorf(at, "cluster: %q must start with a letter or digit; %s", name, fix)
	}
	if len(name) > 63 {
		v.r.errorf(at, "cluster: the name is %d characters long; keep it to 63 so it can be typed at a gate", len(name))
	}
}

func isNameChar(r rune) bool {
	return isAlnum(r) || r == '-' || r == '_' || r == '.'
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// snapshot checks where the snapshot lives. A snapshot on a node must be on
// an etcd member: members have etcdutl and are the machines the restore runs
// on, while a worker or a control-plane-only node is not otherwise touched
// before step 5 and a typo'd node name is likelier than a deliberate choice.
func (v *validator) snapshot() {
	s := &v.c.Snapshot
	if v.d.bad["snapshot"] || v.d.bad["snapshot.path"] || v.d.bad["snapshot.on"] || v.d.bad["snapshot.from"] {
		return
	}
	if v.d.set("snapshot.from") && !v.snapshotFrom() {
		return // the source member decides; a file, if any, is only compared (snapshotFrom)
	}
	if s.On == SnapshotOnBastion {
		if !v.d.set("snapshot.path") || s.Path == "" {
			v.r.errorf(v.d.where("snapshot.path"), "snapshot.path: missing; give the snapshot file to restore, like /backups/etcd/snapshot.db")
			return
		}
		if v.bastionPath("snapshot.path", &s.Path) {
			if why := readableFile(s.Path); why != "" {
				v.r.errorf(v.d.where("snapshot.path"), "snapshot.path: %s; copy the snapshot to this machine or set snapshot.on to the member holding it", why)
			}
		}
		return
	}
	n, found := v.c.Node(s.On)
	switch {
	case !found:
		v.r.errorf(v.d.where("snapshot.on"), "snapshot.on: %q is neither %q nor a node in this file%s", s.On, SnapshotOnBastion, didYouMean(s.On, v.nodeNames()))
	case !n.Has(RoleEtcd) && !v.nodesDoubtful():
		v.r.errorf(v.d.where("snapshot.on"), "snapshot.on: node %q (line %d) is not an etcd member; the snapshot must be on a member or on this machine (snapshot.on: %s)", n.Name, n.Line, SnapshotOnBastion)
	}
	v.nodePath("snapshot.path", s.Path, "/var/backups/etcd/snapshot.db")
}

func (v *validator) nodeNames() []string {
	names := make([]string, len(v.c.Nodes))
	for i, n := range v.c.Nodes {
		names[i] = n.Name
	}
	return names
}

func (v *validator) ssh() {
	s, d := &v.c.SSH, v.d
	switch {
	case d.bad["ssh.user"]:
	case s.User == "" && !d.set("ssh.user"):
		v.r.errorf(d.where("ssh"), "ssh.user: not set and the current user is unknown; set ssh.user")
	default:
		v.login("ssh.user", s.User)
	}
	v.port("ssh.port", s.Port)
	if d.ok("ssh.concurrency") && s.Concurrency < 1 {
		v.r.errorf(d.where("ssh.concurrency"), "ssh.concurrency: %d; it must be at least 1 (nodes handled at once)", s.Concurrency)
	}
	for i := range s.IdentityFiles {
		key := fmt.Sprintf("ssh.identityFiles[%d]", i)
		if !d.bad[key] && v.bastionPath(key, &s.IdentityFiles[i]) {
			if why := readableFile(s.IdentityFiles[i]); why != "" {
				v.r.errorf(d.where(key), "%s: %s; fix the path or remove it (keys in the SSH agent are used too)", key, why)
			}
		}
	}
	if !d.bad["ssh.knownHosts"] && v.bastionPath("ssh.knownHosts", &s.KnownHosts) {
		// Missing or empty is a warning, not an error: plan and
		// check --print-config never open SSH, and --accept-new-host-keys
		// creates or fills the file on first use. Commands that connect
		// refuse without it (nodes.newHostKeys says how to fill it).
		if st, err := os.Stat(s.KnownHosts); errors.Is(err, fs.ErrNotExist) || (err == nil && st.Mode().IsRegular() && st.Size() == 0) {
			unless := ""
			if !d.set("ssh.knownHosts") && s.Config != SSHConfigNone {
				unless = " unless OpenSSH's configuration names another (UserKnownHostsFile) or its GlobalKnownHostsFile holds them"
			}
			v.r.warnf(d.where("ssh.knownHosts"), "ssh.knownHosts: %s; commands that connect will refuse every node until it holds their keys%s (ssh-keyscan after checking fingerprints out of band, or --accept-new-host-keys on first use)",
				readableFile(s.KnownHosts), unless)
		} else if why := readableFile(s.KnownHosts); why != "" {
			v.r.errorf(d.where("ssh.knownHosts"), "ssh.knownHosts: %s; every host key is checked, so no node can be reached without it (add the nodes' keys after checking their fingerprints)", why)
		}
	}
	if s.JumpHost != "" {
		v.jumpHost(s.JumpHost)
	}
	if d.ok("ssh.config") && s.Config != SSHConfigNone && v.bastionPath("ssh.config", &s.Config) {
		if why := readableFile(s.Config); why != "" {
			v.r.errorf(d.where("ssh.config"), "ssh.config: %s; name an OpenSSH client configuration file, or none to read none", why)
		}
	}
	if d.ok("ssh.sudo") && !s.Sudo && s.User != "root" {
		v.r.warnf(d.where("ssh.sudo"), "ssh.sudo: false while ssh.user is %q, not root; parking manifests and restoring etcd need root", s.User)
	}
}

// login checks a remote user name: it ends up in SSH handshakes and messages.
func (v *validator) login(key, user string) {
	if bad := badChar(user); bad != "" || user == "" || strings.ContainsAny(user, " @:/") {
		v.r.errorf(v.d.where(key), "%s: %q is not a usable login name", key, user)
	}
}

func (v *validator) port(key string, p int) {
	if v.d.ok(key) && (p < 1 || p > 65535) {
		v.r.errorf(v.d.where(key), "%s: %d is not a port; use 1 to 65535", key, p)
	}
}

// jumpHost checks "[user@]host[:port]", the form ssh -J takes.
func (v *validator) jumpHost(j string) {
	at := v.d.where("ssh.jumpHost")
	hostport := j
	if u, rest, ok := strings.Cut(j, "@"); ok {
		hostport = rest
		v.login("ssh.jumpHost", u)
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	if why := badAddress(host); why != "" {
		v.r.errorf(at, "ssh.jumpHost: %q: %s; write [user@]host[:port]", j, why)
		return
	}
	if n, err := strconv.Atoi(port); port != "" && (err != nil || n < 1 || n > 65535) {
		v.r.errorf(at, "ssh.jumpHost: %q: port %q is not 1 to 65535", j, port)
	}
}

func (v *validator) apiserver() {
	a := &v.c.Apiserver
	v.port("apiserver.port", a.Port)
	if !v.d.ok("apiserver.etcdServers") || a.EtcdServers == "" {
		return
	}
	for _, s := range strings.Split(a.EtcdServers, ",") {
		u, err := url.Parse(s)
		switch {
		case err != nil || s == "" || badChar(s) != "":
			v.r.errorf(v.d.where("apiserver.etcdServers"), "apiserver.etcdServers: %q is not a URL; write comma-separated URLs like https://10.0.0.11:2379,https://10.0.0.12:2379", s)
		case u.Scheme != "https" && u.Scheme != "http" || u.Port() == "" || u.Hostname() == "":
			v.r.errorf(v.d.where("apiserver.etcdServers"), "apiserver.etcdServers: %q needs a scheme, host and port, like https://10.0.0.11:2379", s)
		}
	}
}

// readiness checks that every override names a known check.
func (v *validator) readiness() {
	if !v.d.ok("readiness.override") {
		return
	}
	for _, o := range v.c.Readiness.Override {
		if !slices.Contains(ReadinessChecks, o) {
			v.r.errorf(v.d.where("readiness.override"), "readiness.override: %q is not a readiness check; use one of %s", o, strings.Join(ReadinessChecks, ", "))
		}
	}
}
