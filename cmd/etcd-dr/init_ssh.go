package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// nodeFiles reads files on one node over SSH with sudo -n, as preflight does.
type nodeFiles struct {
	r    *nodes.Runner
	node string
}

// read returns the file's text; found is false when the node has no such
// file. Any other failure (SSH, sudo wanting a password) is an error.
func (n nodeFiles) read(ctx context.Context, p string) (text string, found bool, err error) {
	res, err := n.r.Run(ctx, n.node, nodes.Cmd{Args: []string{"sh", "-c", `test -e "$1" || exit 3; cat -- "$1"`, "sh", p}, Sudo: true}, nil)
	if res.ExitCode == 3 {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s on %s: %w", p, n.node, err)
	}
	return res.Stdout, true, nil
}

// etcdOn is what one node says about etcd: its member (if it runs one) and
// whether it runs a kube-apiserver, with the apiserver's --etcd-servers.
type etcdOn struct {
	member      *manifest.EtcdMember
	mode        string
	envFile     string
	apiserver   bool
	etcdServers string
}

func readEtcdOn(ctx context.Context, n nodeFiles) (etcdOn, error) {
	var o etcdOn
	dir := config.DefaultManifestsDir
	if api, ok, err := n.read(ctx, path.Join(dir, "kube-apiserver.yaml")); err != nil {
		return o, err
	} else if ok {
		pod, err := manifest.Parse([]byte(api))
		if err != nil {
			return o, fmt.Errorf("%s on %s: %w", path.Join(dir, "kube-apiserver.yaml"), n.node, err)
		}
		o.apiserver = true
		o.etcdServers, _ = pod.Flag("etcd-servers")
	}
	if y, ok, err := n.read(ctx, path.Join(dir, "etcd.yaml")); err != nil {
		return o, err
	} else if ok {
		pod, err := manifest.Parse([]byte(y))
		if err != nil {
			return o, fmt.Errorf("%s on %s: %w", path.Join(dir, "etcd.yaml"), n.node, err)
		}
		m, err := manifest.EtcdMemberFrom(pod)
		if err != nil {
			return o, fmt.Errorf("%s on %s: %w", path.Join(dir, "etcd.yaml"), n.node, err)
		}
		o.member, o.mode = &m, config.EtcdModeStaticPod
		return o, nil
	}
	return o, readSystemdEtcd(ctx, n, &o)
}

// readSystemdEtcd reads a systemd etcd unit's member: the environment file
// its EnvironmentFiles= names (kubespray: /etc/etcd.env), and flags written
// on ExecStart= itself where the file does not set them.
func readSystemdEtcd(ctx context.Context, n nodeFiles, o *etcdOn) error {
	res, err := n.r.Run(ctx, n.node, nodes.Cmd{Args: []string{"systemctl", "show", "-p", "EnvironmentFiles", "-p", "ExecStart", "-p", "LoadState", "etcd"}}, nil)
	if err != nil || !strings.Contains(res.Stdout, "LoadState=loaded") {
		return nil // no etcd unit: not a member
	}
	props := map[string]string{}
	for _, l := range strings.Split(res.Stdout, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			props[k] = v
		}
	}
	envFile := strings.Fields(props["EnvironmentFiles"] + " ")
	o.envFile = config.DefaultEnvFile
	if len(envFile) > 0 && path.IsAbs(strings.TrimPrefix(envFile[0], "-")) {
		o.envFile = strings.TrimPrefix(envFile[0], "-")
	}
	env, _, err := n.read(ctx, o.envFile)
	if err != nil {
		return err
	}
	env += execStartEnv(props["ExecStart"], env)
	m, err := manifest.ParseEtcdEnv([]byte(env))
	if err != nil {
		return fmt.Errorf("etcd unit on %s (%s and ExecStart): %w", n.node, o.envFile, err)
	}
	o.member, o.mode = &m, config.EtcdModeSystemd
	return nil
}

// execStartEnv turns --flag=value arguments of a unit's ExecStart argv into
// ETCD_FLAG=value lines, for flags the environment file does not set.
func execStartEnv(execStart, env string) string {
	_, argv, ok := strings.Cut(execStart, "argv[]=")
	if !ok {
		return ""
	}
	argv, _, _ = strings.Cut(argv, " ;")
	var b strings.Builder
	for _, a := range strings.Fields(argv) {
		k, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			continue
		}
		key := "ETCD_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		if !strings.Contains("\n"+env, "\n"+key+"=") {
			fmt.Fprintf(&b, "\n%s=%s", key, v)
		}
	}
	return b.String()
}

// discoverFromNode reads the cluster from one node over SSH.
func discoverFromNode(ctx context.Context, f initFlags, keys *keyLog) (config.Draft, error) {
	d := config.Draft{Source: "from node " + f.fromNode + " over SSH"}
	from := f.fromHost
	r, err := initRunner(f, []config.Node{{Name: from, Address: from}}, keys)
	if err != nil {
		return d, err
	}
	defer r.Close()
	// Where OpenSSH's configuration took us (an alias's HostName): the
	// address the written file names for this node.
	t, _ := r.Target(from)
	here, err := readEtcdOn(ctx, nodeFiles{r, from})
	if err != nil {
		return d, err
	}
	if !here.apiserver && here.member == nil {
		return d, fmt.Errorf("%s runs neither a kube-apiserver (%s/kube-apiserver.yaml) nor etcd (etcd.yaml, or an etcd systemd unit): name a control-plane or etcd node",
			f.fromNode, config.DefaultManifestsDir)
	}
	members := here
	if here.member == nil {
		// External etcd: ask the first member the apiserver names.
		host := firstRemoteHost(here.etcdServers)
		if host == "" {
			return d, fmt.Errorf("%s has no etcd member and its --etcd-servers (%s) names no remote host to ask", f.fromNode, here.etcdServers)
		}
		r2, err := initRunner(f, []config.Node{{Name: "etcd member " + host, Address: host}}, keys)
		if err != nil {
			return d, err
		}
		defer r2.Close()
		if members, err = readEtcdOn(ctx, nodeFiles{r2, "etcd member " + host}); err != nil {
			return d, err
		}
		if members.member == nil {
			return d, fmt.Errorf("%s (from %s's --etcd-servers) runs no etcd member", host, f.fromNode)
		}
	}
	d.EtcdMode = members.mode
	if members.mode == config.EtcdModeSystemd && members.envFile != config.DefaultEnvFile {
		d.EnvFile = members.envFile
	}
	initial, err := manifest.ParseInitialCluster(members.member.InitialCluster)
	if err != nil {
		return d, fmt.Errorf("--initial-cluster %q: %w", members.member.InitialCluster, err)
	}
	byName := map[string]*config.Node{}
	var order []string
	for name, peers := range initial {
		addr := urlHost(peers[0])
		byName[name] = &config.Node{Name: name, Address: addr, Roles: []string{config.RoleEtcd}}
		order = append(order, name)
	}
	if here.apiserver {
		name := ""
		if here.member != nil {
			name = here.member.Name
		} else if name, err = hostname(ctx, r, from); err != nil {
			return d, err
		}
		if byName[name] == nil {
			byName[name] = &config.Node{Name: name, Address: t.Host}
			order = append(order, name)
			if t.Host != from {
				d.Notes = append(d.Notes, fmt.Sprintf("node %s's address %s is the HostName OpenSSH's configuration gives %s: settings under `Host %s` apply to it only if a Host pattern also matches %s", name, t.Host, from, from, t.Host))
			}
		}
		byName[name].Roles = append([]string{config.RoleControlPlane}, byName[name].Roles...)
		if here.member != nil {
			// Stacked etcd: every member that also runs an apiserver is a
			// control-plane node; ask each.
			markControlPlanes(ctx, f, byName, name, keys)
		}
	}
	sort.Strings(order)
	fromSnapshot, err := snapshotNodes(f.snapshot)
	if err != nil {
		d.Notes = append(d.Notes, "workers were not read from the snapshot ("+err.Error()+"): add every worker node, whose kubelet step 5 restarts")
	}
	for _, sn := range fromSnapshot {
		if n := byName[sn.Name]; n != nil {
			if sn.ControlPlane && !n.Has(config.RoleControlPlane) {
				n.Roles = append([]string{config.RoleControlPlane}, n.Roles...)
			}
			continue
		}
		role := config.RoleWorker
		if sn.ControlPlane {
			role = config.RoleControlPlane
		}
		if sn.InternalIP == "" {
			d.Notes = append(d.Notes, "node "+sn.Name+" (in the snapshot) has no InternalIP: add its address by hand")
			continue
		}
		byName[sn.Name] = &config.Node{Name: sn.Name, Address: sn.InternalIP, Roles: []string{role}}
		order = append(order, sn.Name)
	}
	if len(fromSnapshot) > 0 {
		d.Source += " and the Node objects in " + f.snapshot
	}
	for _, name := range order {
		d.Nodes = append(d.Nodes, *byName[name])
	}
	return d, nil
}

// markControlPlanes asks every other member whether it runs a kube-apiserver.
func markControlPlanes(ctx context.Context, f initFlags, byName map[string]*config.Node, done string, keys *keyLog) {
	var ns []config.Node
	var names []string
	for name, n := range byName {
		if name != done {
			ns = append(ns, config.Node{Name: name, Address: n.Address})
			names = append(names, name)
		}
	}
	r, err := initRunner(f, ns, keys)
	if err != nil {
		return
	}
	defer r.Close()
	for _, name := range names {
		if _, ok, err := (nodeFiles{r, name}).read(ctx, path.Join(config.DefaultManifestsDir, "kube-apiserver.yaml")); err == nil && ok {
			byName[name].Roles = append([]string{config.RoleControlPlane}, byName[name].Roles...)
		}
	}
}

func hostname(ctx context.Context, r *nodes.Runner, node string) (string, error) {
	res, err := r.Run(ctx, node, nodes.Cmd{Args: []string{"hostname"}}, nil)
	if err != nil {
		return "", fmt.Errorf("hostname on %s: %w", node, err)
	}
	h, _, _ := strings.Cut(strings.TrimSpace(res.Stdout), ".")
	if h == "" {
		return "", errors.New("hostname on " + node + " printed nothing")
	}
	return strings.ToLower(h), nil
}

func urlHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}

// firstRemoteHost is the first non-loopback host of a URL list.
func firstRemoteHost(list string) string {
	for _, u := range strings.Split(list, ",") {
		h := urlHost(strings.TrimSpace(u))
		if ip := net.ParseIP(h); h != "" && h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return h
		}
	}
	return ""
}
