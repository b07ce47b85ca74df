package steps

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// Placeholders stand for values known only after preflight; `plan` shows
// them so the operator sees exactly which parts of a command are not fixed.
const (
	PhDataDir            = "<NEW_DATA_DIR: decided in preflight>"
	PhToken              = "<NEW_CLUSTER_TOKEN: decided in preflight>"
	PhBump               = "<BUMP: live revision - snapshot revision + margin, decided once every apiserver is stopped>"
	PhRun                = "<RUN_ID>"
	PhSnapshotMemberCopy = "<SNAPSHOT_ON_NODE: copied and checked in preflight>"
)

// MemberFromManifest reads one member from its node's etcd.yaml (static-pod
// mode) or env file (systemd mode).
func MemberFromManifest(node, mode string, data []byte) (Member, error) {
	var em manifest.EtcdMember
	image := ""
	if mode == config.EtcdModeSystemd {
		m, err := manifest.ParseEtcdEnv(data)
		if err != nil {
			return Member{}, err
		}
		em = m
	} else {
		p, err := manifest.Parse(data)
		if err != nil {
			return Member{}, err
		}
		if em, err = manifest.EtcdMemberFrom(p); err != nil {
			return Member{}, err
		}
		image = p.MainContainer().Image
	}
	return Member{Node: node, Name: em.Name, PeerURLs: em.PeerURLs, ClientURLs: em.ClientURLs,
		ListenClientURLs: em.ListenClientURLs, DataDir: em.HostDataDir, DataVolume: em.DataVolume,
		InitialCluster: em.InitialCluster, Token: em.InitialClusterToken,
		CertFile: em.CertFile, KeyFile: em.KeyFile, TrustedCAFile: em.TrustedCAFile, Image: image}, nil
}

// ApiserverFromManifest reads --etcd-servers and the secure port.
func ApiserverFromManifest(node string, data []byte) (Apiserver, error) {
	p, err := manifest.Parse(data)
	if err != nil {
		return Apiserver{}, err
	}
	v, ok := p.Flag("etcd-servers")
	if !ok {
		return Apiserver{}, fmt.Errorf("line %d: kube-apiserver has no --etcd-servers", p.Line)
	}
	port := 6443
	if s, ok := p.Flag("secure-port"); ok {
		if port, err = strconv.Atoi(s); err != nil {
			return Apiserver{}, fmt.Errorf("--secure-port %q is not a number", s)
		}
	}
	adv, _ := p.Flag("advertise-address")
	return Apiserver{Node: node, EtcdServers: splitList(v), Port: port, Host: apiserverHost(p), Advertise: adv,
		GraceSeconds: p.TerminationGracePeriodSeconds}, nil
}

// apiserverHost is where the apiserver answers, as kubeadm's own probes
// reach it: a specific --bind-address, else --advertise-address (kubeadm
// points its probes there), else loopback.
func apiserverHost(p *manifest.StaticPod) string {
	if b, ok := p.Flag("bind-address"); ok && b != "" && b != "0.0.0.0" && b != "::" {
		return b
	}
	if a, ok := p.Flag("advertise-address"); ok && a != "" {
		return a
	}
	return "127.0.0.1"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// CheckMembers proves the members form one cluster: unique names, and
// where members' --initial-cluster name a member, the same peer URLs.
// kubeadm writes each joiner's initial-cluster with the members known at
// join time, so coverage is checked on the union, not on each member.
func CheckMembers(ms []Member) error {
	seen := map[string]string{}
	for _, m := range ms {
		if prev, dup := seen[m.Name]; dup {
			return fmt.Errorf("member name %q is used on %s and %s", m.Name, prev, m.Node)
		}
		seen[m.Name] = m.Node
	}
	for _, m := range ms {
		ic, err := manifest.ParseInitialCluster(m.InitialCluster)
		if err != nil {
			return fmt.Errorf("%s: --initial-cluster: %w", m.Node, err)
		}
		for name, urls := range ic {
			for _, o := range ms {
				if o.Name == name && strings.Join(o.PeerURLs, ",") != strings.Join(urls, ",") {
					return fmt.Errorf("%s: --initial-cluster says %s is at %s, but %s advertises %s: fix the manifests before restoring",
						m.Node, name, strings.Join(urls, ","), o.Node, strings.Join(o.PeerURLs, ","))
				}
			}
		}
	}
	return nil
}

// InitialCluster is the --initial-cluster every member is restored with.
func InitialCluster(ms []Member) string {
	ems := make([]manifest.EtcdMember, len(ms))
	for i, m := range ms {
		ems[i] = manifest.EtcdMember{Name: m.Name, PeerURLs: m.PeerURLs}
	}
	return manifest.InitialClusterOf(ems)
}

// DesiredEtcdServers is what an apiserver's --etcd-servers must be after the
// restore: the cluster file's value when set; unchanged when every URL it
// lists is still served (a member's client URL, or a loopback URL the
// node's own member listens on: kubeadm's stacked layout); else every
// member's client URL.
func DesiredEtcdServers(cl *config.Cluster, a Apiserver, ms []Member) []string {
	if cl.Apiserver.EtcdServers != "" {
		return splitList(cl.Apiserver.EtcdServers)
	}
	served := map[string]bool{}
	var all []string
	for _, m := range ms {
		for _, u := range m.ClientURLs {
			served[u] = true
			all = append(all, u)
		}
		if m.Node == a.Node {
			for _, u := range m.ListenClientURLs {
				served[u] = true
			}
		}
	}
	for _, u := range a.EtcdServers {
		if !served[u] {
			return all
		}
	}
	return a.EtcdServers
}

// ComputeBump is the --bump-revision: the cluster file's number, or live −
// snapshot + a margin (1000 + 20%) for writes racing the outage, or 1e9
// when the live revision is unknown (etcd down): too big beats too small,
// since a revision that goes backwards breaks every watcher.
func ComputeBump(setting string, live, snap int64) (int64, error) {
	if setting != "" && setting != "auto" {
		n, err := strconv.ParseInt(setting, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("etcd.bumpRevision %q: want auto or a non-negative number", setting)
		}
		return n, nil
	}
	if live <= 0 {
		return 1_000_000_000, nil
	}
	d := max(live-snap, 0)
	return d + 1000 + d/5, nil
}

// RenderDataDir fills etcd.restoredDataDir's {{.Time}}.
func RenderDataDir(tmpl string, at time.Time) (string, error) {
	if tmpl == "" {
		tmpl = "/var/lib/etcd-restored-{{.Time}}"
	}
	t, err := template.New("restoredDataDir").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("etcd.restoredDataDir: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ Time string }{at.UTC().Format("20060102T150405Z")}); err != nil {
		return "", fmt.Errorf("etcd.restoredDataDir: %w", err)
	}
	out := b.String()
	if !path.IsAbs(out) {
		return "", fmt.Errorf("etcd.restoredDataDir %q is not an absolute path", out)
	}
	return path.Clean(out), nil
}
