package realnode

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one real-tier node: its namespaces and its directory.
type Node struct {
	Name string
	Addr netip.Addr
	Dir  string // the node's own files: overlay upper dirs, etcd/kubelet/containerd dirs
	// CertificateKey, when set before KubeadmInit, is the key kubeadm's
	// upload-certs encrypts the shared certificates with for joining
	// control-plane nodes.
	CertificateKey string
	net            *Net
	// nsDir holds the persistent mount and UTS namespace files; it is a
	// private bind mount so the namespace files can live on it.
	mntFile, utsFile string
	// InitPID is the host pid of pid 1 of the node's own PID namespace (a
	// reaper, as systemd is PID 1 of a real node): everything the node
	// runs enters that namespace, so `pgrep kube-apiserver` on cp-1 sees
	// cp-1's processes only, and killing it ends all of them.
	InitPID int
	init    *exec.Cmd
}

// Check says why this machine cannot run the real tier, before anything is
// created: root, the tools, and cgroup v1 or v2 with the controllers the
// kubelet needs.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("the real-kubelet tier needs root: it creates network and mount namespaces, a bridge and cgroups")
	}
	for _, tool := range []string{"ip", "nsenter", "unshare", "mount", "containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the real-kubelet tier needs %s on PATH (Debian: iproute2, util-linux, containerd, runc; .ci/deps installs them)", tool)
		}
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c)); err == nil {
			continue
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(b), c) {
			continue
		}
		return fmt.Errorf("the real-kubelet tier needs the %s cgroup controller, which this machine does not mount", c)
	}
	return nil
}

// AddNode creates node name (index i: its address) under dir: network
// namespace first, then the mount and UTS namespaces with the node's own
// /etc, /var/lib, /run and /var/log.
func (n *Net) AddNode(ctx context.Context, dir, name string, i int) (*Node, error) {
	addr, err := n.addNetns(ctx, name, i)
	if err != nil {
		return nil, err
	}
	nd := &Node{Name: name, Addr: addr, Dir: filepath.Join(dir, name), net: n}
	if err := nd.setupMounts(ctx, dir); err != nil {
		nd.Remove(ctx)
		return nil, err
	}
	if err := nd.startInit(); err != nil {
		nd.Remove(ctx)
		return nil, err
	}
	return nd, nil
}

// initScript is pid 1 of a node's PID namespace: it mounts that
// namespace's /proc over the node's (so ps and pgrep inside the node see
// only the node's processes, as on a real node) and then reaps orphans as
// an init does (containerd's shims are re-parented to it).
const initScript = `mount -t proc proc /proc && exec perl -e '$0 = "edr-node-init"; while (1) { wait; sleep 1 }'`

// startInit creates the node's PID namespace with its init and records
// the init's host pid.
func (nd *Node) startInit() error {
	argv := nd.nsenterNoPID("unshare", "--pid", "--kill-child", "sh", "-c", initScript)
	cmd := exec.Command(argv[0], argv[1:]...)
	// The node must not outlive whoever made it (as the default tier's
	// nodes): unshare dies with it, and --kill-child takes the init, and so
	// every process of the node, along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: pid namespace: %w", nd.Name, err)
	}
	go func() { _ = cmd.Wait() }()
	nd.init = cmd
	// unshare forks the init; wait for it to exist and to have mounted /proc.
	for range 250 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) > 0 {
			pid := f[0]
			if c, _ := os.ReadFile("/proc/" + pid + "/cmdline"); strings.HasPrefix(string(c), "edr-node-init") {
				nd.InitPID, _ = strconv.Atoi(pid)
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("%s: the pid namespace's init did not start within 5s", nd.Name)
}

// nsDir makes dir/ns a private bind mount (persistent namespace files must
// not sit on a shared mount) and returns it.
func nsDir(ctx context.Context, dir string) (string, error) {
	d := filepath.Join(dir, "ns")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return "", err
	}
	if !isMountpoint(d) {
		if err := run(ctx, "mount", "--bind", d, d); err != nil {
			return "", err
		}
	}
	return d, run(ctx, "mount", "--make-private", d)
}

func isMountpoint(p string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(p, &a) != nil || syscall.Stat(filepath.Dir(p), &b) != nil {
		return false
	}
	if a.Dev != b.Dev {
		return true
	}
	// A bind mount of a directory onto itself keeps the device; look it up.
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

func (nd *Node) setupMounts(ctx context.Context, dir string) error {
	ns, err := nsDir(ctx, dir)
	if err != nil {
		return err
	}
	nd.mntFile = filepath.Join(ns, nd.Name+".mnt")
	nd.utsFile = filepath.Join(ns, nd.Name+".uts")
	for _, f := range []string{nd.mntFile, nd.utsFile} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			return err
		}
	}
	var dirs []string
	for _, d := range []string{"etc.upper", "etc.work", "varlib.upper", "varlib.work", "usrlocal.upper", "usrlocal.work", "etcd", "kubelet", "containerd", "log"} {
		dirs = append(dirs, filepath.Join(nd.Dir, d))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := run(ctx, "unshare", "--mount="+nd.mntFile, "--uts="+nd.utsFile, "--propagation", "private",
		"hostname", nd.Name); err != nil {
		return err
	}
	d := nd.Dir
	script := strings.Join([]string{
		"set -e",
		fmt.Sprintf("mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/etc.upper,workdir=%s/etc.work /etc", d, d),
		fmt.Sprintf("mount -t overlay overlay -o lowerdir=/var/lib,upperdir=%s/varlib.upper,workdir=%s/varlib.work /var/lib", d, d),
		fmt.Sprintf("mount -t overlay overlay -o lowerdir=/usr/local,upperdir=%s/usrlocal.upper,workdir=%s/usrlocal.work /usr/local", d, d),
		"mkdir -p /var/lib/etcd /var/lib/kubelet /var/lib/containerd /etc/kubernetes/manifests",
		fmt.Sprintf("mount --bind %s/etcd /var/lib/etcd", d),
		fmt.Sprintf("mount --bind %s/kubelet /var/lib/kubelet", d),
		fmt.Sprintf("mount --bind %s/containerd /var/lib/containerd", d),
		fmt.Sprintf("mount --bind %s/log /var/log", d),
		"mount -t tmpfs -o mode=0755,size=256m tmpfs /run",
		fmt.Sprintf("echo %s > /etc/hostname", nd.Name),
		// A node resolves its own name (kubeadm's Hostname check).
		fmt.Sprintf("echo '%s %s' >> /etc/hosts", nd.Addr, nd.Name),
	}, "\n")
	return run(ctx, nd.nsenter("sh", "-c", script)...)
}

// Install puts the host binary src at /usr/local/bin/name inside the node
// (where kubespray installs kubelet and kubeadm; on the node's PATH), as a
// read-only bind mount: no copy of a 100 MB binary per node.
func (nd *Node) Install(ctx context.Context, name, src string) error {
	dst := "/usr/local/bin/" + name
	_, err := nd.Run(ctx, "sh", "-c", `: > "$1" && mount --bind -o ro "$2" "$1"`, "sh", dst, src)
	return err
}

// nsenter returns the argv that runs cmd inside the node's namespaces.
// nsenter forks into the PID namespace: the returned process is nsenter,
// the node's process its child, in nsenter's process group (killGroup).
func (nd *Node) nsenter(cmd ...string) []string {
	if nd.InitPID == 0 {
		return nd.nsenterNoPID(cmd...)
	}
	return append([]string{"nsenter", "--net=/run/netns/" + nd.net.NetnsName(nd.Name),
		"--mount=" + nd.mntFile, "--uts=" + nd.utsFile, fmt.Sprintf("--pid=/proc/%d/ns/pid", nd.InitPID), "--"}, cmd...)
}

func (nd *Node) nsenterNoPID(cmd ...string) []string {
	return append([]string{"nsenter", "--net=/run/netns/" + nd.net.NetnsName(nd.Name),
		"--mount=" + nd.mntFile, "--uts=" + nd.utsFile, "--"}, cmd...)
}

// Nsenter is the argv that runs cmd inside the node (its SSH server's
// commands, the lab's shims).
func (nd *Node) Nsenter(cmd ...string) []string { return nd.nsenter(cmd...) }

// daemon returns a command for a long-running process of the node in its
// own process group, so killGroup ends it and not only nsenter.
func (nd *Node) daemon(cmd ...string) *exec.Cmd {
	argv := nd.nsenter(cmd...)
	c := exec.Command(argv[0], argv[1:]...)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

// killGroup SIGKILLs the process group a daemon command leads.
func killGroup(c *exec.Cmd) {
	if c != nil && c.Process != nil {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Process.Kill()
	}
}

// Command returns cmd to run inside the node.
func (nd *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	argv := nd.nsenter(append([]string{name}, args...)...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// Run runs cmd inside the node and returns its combined output.
func (nd *Node) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := nd.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s on %s: %w: %s", name, strings.Join(args, " "), nd.Name, err, tail(string(out), 15))
	}
	return string(out), nil
}

// Remove kills what runs in the node, then drops its namespaces. The node's
// directory stays (the lab removes its dir as a whole).
func (nd *Node) Remove(ctx context.Context) {
	nd.net.RemoveNode(ctx, nd.Name)
	removeCgroups(nd.CgroupRoot())
	for _, f := range []string{nd.mntFile, nd.utsFile} {
		if f != "" {
			_ = syscall.Unmount(f, syscall.MNT_DETACH)
			_ = os.Remove(f)
		}
	}
}

// ReleaseDir unmounts dir/ns (call after every node's Remove).
func ReleaseDir(dir string) {
	d := filepath.Join(dir, "ns")
	if isMountpoint(d) {
		_ = syscall.Unmount(d, syscall.MNT_DETACH)
	}
}

func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, tail(string(out), 15))
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// removeCgroups removes root (the node's cgroup root) and everything under
// it in every mounted hierarchy, deepest first; the processes in them are
// gone by now.
func removeCgroups(root string) {
	hier, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hier {
		top := filepath.Join("/sys/fs/cgroup", h.Name(), root)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}
