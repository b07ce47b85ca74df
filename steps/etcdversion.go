package steps

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/etcdtools"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// imageTag is the tag of an image reference: "registry.k8s.io/etcd:3.6.6-0"
// gives "3.6.6-0"; a digest ("@sha256:...") is ignored; no tag gives "".
func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	return image[i+1:]
}

// memberEtcdVersion reads the etcd version m runs: the image tag of its
// static pod (kubeadm: registry.k8s.io/etcd:3.6.6-0), or on systemd hosts
// the `--version` of the binary its unit starts, run under sudo. from says
// where it was read, for the operator.
func (c *Context) memberEtcdVersion(ctx context.Context, m Member) (v etcdtools.Version, from string, err error) {
	if !c.systemd() {
		from = "image " + m.Image + " in " + c.etcdSource()
		v, err = etcdtools.ParseVersion(imageTag(m.Image))
		if err != nil {
			return v, from, fmt.Errorf("cannot tell which etcd %s runs from its image %q in %s (want a tag like registry.k8s.io/etcd:3.6.6-0): %w",
				m.Node, m.Image, c.etcdSource(), err)
		}
		return v, from, nil
	}
	bin, err := c.unitExecStart(ctx, m.Node)
	if err != nil {
		return v, "", err
	}
	res, err := c.Exec1(ctx, Action{Node: m.Node, What: "read the etcd version of the binary " + c.unit() + ".service starts",
		Cmd: sudo(c.Cluster, bin, "--version")})
	if err != nil {
		return v, "", err
	}
	from = bin + " --version"
	mv := etcdVersionRe.FindStringSubmatch(res.Stdout)
	if mv == nil {
		return v, from, fmt.Errorf("%s: %s --version printed no \"etcd Version:\" line: %q", m.Node, bin, clip(res.Stdout))
	}
	v, err = etcdtools.ParseVersion(mv[1])
	return v, from, err
}

var (
	etcdVersionRe = regexp.MustCompile(`etcd Version:\s*(\S+)`)
	execPathRe    = regexp.MustCompile(`(?:^|[{;\s])path=(\S+)`)
)

// unitExecStart is the binary the etcd unit starts, from `systemctl show -p
// ExecStart --value UNIT` ("{ path=/usr/local/bin/etcd ; argv[]=... }").
func (c *Context) unitExecStart(ctx context.Context, node string) (string, error) {
	res, err := c.Exec1(ctx, Action{Node: node, What: "read which binary " + c.unit() + ".service starts",
		Cmd: nodes.Cmd{Args: []string{"systemctl", "show", "-p", "ExecStart", "--value", c.unit()}}})
	if err != nil {
		return "", err
	}
	m := execPathRe.FindStringSubmatch(res.Stdout)
	if m == nil {
		return "", fmt.Errorf("%s: systemctl show -p ExecStart %s names no binary (%q): is etcd.systemdUnit right?", node, c.unit(), clip(res.Stdout))
	}
	return m[1], nil
}

// checkStorageVersion refuses, before anything changes, a snapshot whose
// storage version is newer (major.minor) than a member's etcd: etcdutl
// restores it without complaint and that etcd then refuses to start
// ("Failed to validate schema: version "3.7.0" is not supported"), after
// every destructive step.
func (c *Context) checkStorageVersion(local string) error {
	sv, err := snapshot.StorageVersion(local)
	if err != nil {
		return fmt.Errorf("read the storage version of %s: %w", local, err)
	}
	if sv == "" {
		c.Check("", "snapshot storage version", true, "none recorded (saved by etcd 3.5 or older): every etcd 3.5+ member reads it")
		return nil
	}
	snapV, err := etcdtools.ParseVersion(sv)
	if err != nil {
		return fmt.Errorf("snapshot %s: storage version %q: %w", c.Cluster.Snapshot.Path, sv, err)
	}
	var bad []string
	for _, m := range c.members() {
		mv, err := etcdtools.ParseVersion(m.EtcdVersion)
		if err == nil && snapV.Newer(mv) {
			bad = append(bad, fmt.Sprintf("%s (member %s) runs etcd %s", m.Node, m.Name, m.EtcdVersion))
		}
	}
	c.Check("", "snapshot storage version <= every member's etcd", len(bad) == 0, sv)
	if len(bad) > 0 {
		return fmt.Errorf("snapshot %s was saved by etcd %d.%d (storage version %s), newer than %s: etcdutl would restore it, "+
			"then that etcd refuses to start on it (\"Failed to validate schema\"); restore a snapshot saved by etcd %s or older, "+
			"or upgrade those members first", c.Cluster.Snapshot.Path, snapV.Major, snapV.Minor, sv, strings.Join(bad, ", "), lowestMinor(c.members()))
	}
	return nil
}

func lowestMinor(ms []Member) string {
	var low *etcdtools.Version
	for _, m := range ms {
		if v, err := etcdtools.ParseVersion(m.EtcdVersion); err == nil && (low == nil || low.Newer(v)) {
			low = &v
		}
	}
	if low == nil {
		return "the members' version"
	}
	return fmt.Sprintf("%d.%d", low.Major, low.Minor)
}

// readEtcdVersions records which etcd every member runs, before the
// snapshot is compared with them and their tools are chosen.
func (c *Context) readEtcdVersions(ctx context.Context) error {
	var mu sync.Mutex
	ms := slices.Clone(c.members()) // read while the loop below writes c.Values.Members
	err := c.ForEachNode(ctx, memberNodes(ms), func(ctx context.Context, node string) error {
		v, from, err := c.memberEtcdVersion(ctx, memberOn(ms, node))
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range c.Values.Members {
			if c.Values.Members[i].Node == node {
				c.Values.Members[i].EtcdVersion, c.Values.Members[i].EtcdVersionFrom = v.String(), from
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.SaveValues()
}
