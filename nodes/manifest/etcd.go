package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EtcdMember is what one etcd member's manifest (or env file) says about it.
type EtcdMember struct {
	Name       string
	PeerURLs   []string // --initial-advertise-peer-urls
	ClientURLs []string // --advertise-client-urls
	// ListenClientURLs (--listen-client-urls) are where the process itself
	// listens: where "is it still running?" must look.
	ListenClientURLs []string
	// DataDir is --data-dir as the etcd process sees it (inside the pod).
	DataDir string
	// HostDataDir is the node's directory behind DataDir: the hostPath of the
	// volume mounted over it, or DataDir itself when nothing is mounted there
	// (systemd mode).
	HostDataDir string
	// DataVolume names the pod volume holding the data dir ("" if none); the
	// restore repoints this volume's hostPath at the new data dir.
	DataVolume          string
	InitialCluster      string
	InitialClusterToken string
	InitialClusterState string
	CertFile            string
	KeyFile             string
	TrustedCAFile       string
	PeerCertFile        string
	PeerKeyFile         string
	PeerTrustedCAFile   string
	ClientCertAuth      bool
}

// etcd flag names, shared by the manifest (--flag) and env file (ETCD_FLAG).
var etcdFlags = []string{
	"name", "initial-advertise-peer-urls", "advertise-client-urls", "data-dir",
	"initial-cluster", "initial-cluster-token", "initial-cluster-state",
	"cert-file", "key-file", "trusted-ca-file", "peer-cert-file", "peer-key-file",
	"peer-trusted-ca-file", "client-cert-auth", "listen-client-urls",
}

// EtcdMemberFrom reads the member from a parsed etcd.yaml.
func EtcdMemberFrom(p *StaticPod) (EtcdMember, error) {
	c := p.MainContainer()
	if c == nil {
		return EtcdMember{}, fmt.Errorf("line %d: etcd manifest has no container", p.Line)
	}
	get := func(flag string) (string, bool) { return p.Flag(flag) }
	m, err := memberFrom(get, func(flag string) string { return "--" + flag })
	if err != nil {
		return EtcdMember{}, fmt.Errorf("line %d: container %q: %w", c.Line, c.Name, err)
	}
	m.HostDataDir, m.DataVolume = p.HostPathOf(m.DataDir)
	return m, nil
}

// HostPathOf maps a path as the main container sees it to the node's path,
// through the deepest volume mounted over it; volume is "" (and the path is
// returned as is) when no volume covers it.
func (p *StaticPod) HostPathOf(inPod string) (hostPath, volume string) {
	inPod = path.Clean(inPod)
	c := p.MainContainer()
	if c == nil {
		return inPod, ""
	}
	best, bestMount := inPod, ""
	for _, vm := range c.VolumeMounts {
		mp := path.Clean(vm.MountPath)
		if mp != inPod && !strings.HasPrefix(inPod, strings.TrimSuffix(mp, "/")+"/") {
			continue
		}
		host, ok := p.HostPath(vm.Name)
		if !ok || len(mp) <= len(bestMount) {
			continue
		}
		best = path.Join(host, strings.TrimPrefix(inPod, mp))
		volume, bestMount = vm.Name, mp
	}
	return best, volume
}

// PointDataDir makes etcd's data dir, on the node, hostDir: it repoints the
// hostPath volume mounted exactly at --data-dir, which is how kubeadm lays
// etcd out (the process keeps seeing /var/lib/etcd). Other layouts are
// refused rather than guessed at.
func PointDataDir(hostDir string) Change {
	return func(pod *yaml.Node) error {
		c, err := mainContainerNode(pod)
		if err != nil {
			return fmt.Errorf("point data dir: %w", err)
		}
		_, argv := argvNodes(c)
		dataDir, ok := FlagIn(argv, "data-dir")
		if !ok || !path.IsAbs(dataDir) {
			return fmt.Errorf("line %d: point data dir: the etcd container has no absolute --data-dir", c.Line)
		}
		dataDir = path.Clean(dataDir)
		if mounts := lookup(c, "volumeMounts"); mounts != nil {
			for _, m := range mounts.Content {
				mp, name := lookup(m, "mountPath"), lookup(m, "name")
				if mp == nil || name == nil {
					continue
				}
				switch clean := path.Clean(mp.Value); {
				case clean == dataDir:
					return SetHostPath(name.Value, hostDir)(pod)
				case strings.HasPrefix(dataDir, strings.TrimSuffix(clean, "/")+"/"):
					return fmt.Errorf("line %d: --data-dir %s is below the mount %s of volume %q, not a kubeadm layout: edit this manifest by hand", m.Line, dataDir, clean, name.Value)
				}
			}
		}
		return fmt.Errorf("line %d: no volume is mounted at --data-dir %s: the data would live inside the container; edit this manifest by hand", c.Line, dataDir)
	}
}

// memberFrom fills an EtcdMember from a flag source; show names a flag the
// way the operator sees it in their file (--data-dir or ETCD_DATA_DIR).
func memberFrom(get func(string) (string, bool), show func(string) string) (EtcdMember, error) {
	v := make(map[string]string, len(etcdFlags))
	for _, f := range etcdFlags {
		v[f], _ = get(f)
	}
	var missing []string
	for _, f := range []string{"name", "data-dir", "initial-advertise-peer-urls", "advertise-client-urls"} {
		if strings.TrimSpace(v[f]) == "" {
			missing = append(missing, show(f))
		}
	}
	if len(missing) > 0 {
		return EtcdMember{}, fmt.Errorf("etcd member without %s: set it in the file before restoring", strings.Join(missing, ", "))
	}
	m := EtcdMember{
		Name: v["name"], DataDir: path.Clean(v["data-dir"]),
		InitialCluster: v["initial-cluster"], InitialClusterToken: v["initial-cluster-token"],
		InitialClusterState: v["initial-cluster-state"],
		CertFile:            v["cert-file"], KeyFile: v["key-file"], TrustedCAFile: v["trusted-ca-file"],
		PeerCertFile: v["peer-cert-file"], PeerKeyFile: v["peer-key-file"], PeerTrustedCAFile: v["peer-trusted-ca-file"],
	}
	if !path.IsAbs(m.DataDir) {
		return EtcdMember{}, fmt.Errorf("%s=%q is relative: where it points depends on etcd's working directory; make it absolute", show("data-dir"), v["data-dir"])
	}
	m.HostDataDir = m.DataDir
	var err error
	if m.PeerURLs, err = urlList(v["initial-advertise-peer-urls"]); err != nil {
		return EtcdMember{}, fmt.Errorf("%s: %w", show("initial-advertise-peer-urls"), err)
	}
	if m.ClientURLs, err = urlList(v["advertise-client-urls"]); err != nil {
		return EtcdMember{}, fmt.Errorf("%s: %w", show("advertise-client-urls"), err)
	}
	if v["listen-client-urls"] != "" {
		if m.ListenClientURLs, err = urlList(v["listen-client-urls"]); err != nil {
			return EtcdMember{}, fmt.Errorf("%s: %w", show("listen-client-urls"), err)
		}
	}
	if _, ok := get("client-cert-auth"); ok {
		if v["client-cert-auth"] == "" { // bare boolean flag
			m.ClientCertAuth = true
		} else if m.ClientCertAuth, err = strconv.ParseBool(v["client-cert-auth"]); err != nil {
			return EtcdMember{}, fmt.Errorf("%s=%q: not true or false", show("client-cert-auth"), v["client-cert-auth"])
		}
	}
	if m.InitialCluster != "" {
		if _, err := ParseInitialCluster(m.InitialCluster); err != nil {
			return EtcdMember{}, fmt.Errorf("%s: %w", show("initial-cluster"), err)
		}
	}
	return m, nil
}

// urlList splits a comma-separated URL list and checks each URL.
func urlList(s string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		if err := checkURL(u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https" && p.Scheme != "unix" && p.Scheme != "unixs") {
		return fmt.Errorf("%q is not a URL like https://10.0.0.11:2380", u)
	}
	return nil
}

// ParseInitialCluster reads "name=url,name=url2,other=url" into each member's
// peer URLs, in order. A name may repeat (one entry per peer URL).
func ParseInitialCluster(s string) (map[string][]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("initial cluster is empty: want name=https://ip:2380[,name=url]")
	}
	out := make(map[string][]string)
	for i, entry := range strings.Split(s, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(entry), "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("initial cluster entry %d %q: want name=https://ip:2380", i+1, entry)
		}
		if err := checkURL(strings.TrimSpace(u)); err != nil {
			return nil, fmt.Errorf("initial cluster entry %d (%s): %w", i+1, name, err)
		}
		out[name] = append(out[name], strings.TrimSpace(u))
	}
	return out, nil
}

// InitialClusterOf writes the --initial-cluster value naming every member
// with its peer URLs, sorted by name so every member gets the same string.
func InitialClusterOf(members []EtcdMember) string {
	sorted := append([]EtcdMember(nil), members...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var parts []string
	for _, m := range sorted {
		for _, u := range m.PeerURLs {
			parts = append(parts, m.Name+"="+u)
		}
	}
	return strings.Join(parts, ",")
}
