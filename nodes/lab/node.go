package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nodeSpec is a lab node's identity.
type nodeSpec struct {
	Name  string   `json:"name"`
	Addr  string   `json:"address"`
	Roles []string `json:"roles"`
	// ServiceUID, when not 0, is mapped into the node's user namespace
	// besides root (as uid and gid, the same number as on the host): the
	// uid of a service user such as etcd (Options.EtcdUser).
	ServiceUID int `json:"serviceUid,omitempty"`
}

// node is one running lab node: a long-lived init process holding the
// node's namespaces, into which SSH commands and pods are entered.
type node struct {
	spec nodeSpec
	dir  string // DIR/nodes/NAME
	init *exec.Cmd
	pid  int // host pid of the namespace's init
	done chan struct{}
}

// nodePath is the PATH of every command on a node, as a login shell's on a
// real node: /run/lab/sbin (the systemctl and crictl shims, standing in for
// /usr/bin's) first, then the sandbox's /usr/local/bin (sudo's shim, the
// Kubernetes binaries; etcd tools only with Options.HostEtcdTools).
const nodePath = sysShimDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// loginPathFile, in the node's ctl dir (/run/lab), holds the PATH the
// login's SSH commands get when a fault gave it one without some programs
// (HideFromLogin); nodePath when it is absent. Only SSH sessions read it:
// the lab's own commands, the kubelet and pods keep nodePath, as a real
// node's services do not run with the login's PATH.
const loginPathFile = "login-path"

// loginPath is the PATH of the login's SSH commands, as sshd (and
// /etc/environment, through pam_env) sets it on a real node.
func (n *node) loginPath() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "ctl", loginPathFile))
	if p := strings.TrimSpace(string(b)); err == nil && p != "" {
		return p
	}
	return nodePath
}

// loginCommand runs line as the login's SSH command does, on its PATH.
func (n *node) loginCommand(ctx context.Context, line string) *exec.Cmd {
	cmd := n.command(ctx, "sh", "-c", line)
	cmd.Env = append(cmd.Env, "PATH="+n.loginPath()) // the last PATH wins (os/exec)
	return cmd
}

// initScript runs as pid 1 of the node's pid namespace. It makes every mount
// private (nothing leaks to the host), mounts the node's own /proc (so pgrep
// sees only the node), overlays /etc and /var/lib on the sandbox's upper dirs,
// gives the node its own /run, /tmp and /root (the SSH user's home), and puts
// the sandbox bin dir at /usr/local/bin, with the cached lab binaries ("$3")
// under it at .labbin: the host path of the cache may be hidden in the node
// (it is under /root for root). /tmp goes last: the sandbox itself may live under /tmp.
// "$1" is the sandbox dir, "$2" the hostname, "$3" the binaries dir or "".
const initScript = `set -eu
mount --make-rprivate /
mount -t proc proc /proc
for d in etc var/lib; do
  u="$1/upper/$d"; w="$1/work/$d"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$u,workdir=$w" "/$d"
done
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lab
mount --bind "$1/ctl" /run/lab
if [ -n "$3" ]; then mount --bind -o ro "$3" "$1/bin/.labbin"; fi
mount --rbind "$1/bin" /usr/local/bin
mount --bind "$1/root" /root
mount -t tmpfs -o mode=1777 tmpfs /tmp
# sethostname(2) works in a user namespace; /proc/sys/kernel/hostname is
# owned by the real root and refuses an unprivileged lab.
hostname "$2" 2>/dev/null || echo "$2" > /proc/sys/kernel/hostname
cd /root
echo ready
exec sleep infinity
`

// startNode creates the node's namespaces and waits until its mounts are up.
func startNode(ctx context.Context, spec nodeSpec, dir, binDir string) (*node, error) {
	for _, d := range []string{"upper/etc", "upper/var/lib", "work/etc", "work/var/lib", "ctl", "bin/.labbin", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("node %s: sandbox: %w", spec.Name, err)
		}
	}
	cmd := exec.Command("sh", "-c", initScript, "lab-node-init", dir, spec.Name, binDir)
	cmd.Env = []string{"PATH=" + nodePath}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		// Root inside maps to whoever runs the lab, so the lab also works
		// unprivileged (kernel permitting).
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		// The node must not outlive the lab daemon: a crashed daemon would
		// otherwise leave etcd members and apiservers running.
		Pdeathsig: syscall.SIGKILL,
	}
	if id := spec.ServiceUID; id > 0 {
		// A second id in the map needs a privileged parent (Options.EtcdUser
		// checks); setgroups stays allowed so the unit's process can drop
		// root's groups as systemd does for User=.
		a := cmd.SysProcAttr
		a.UidMappings = append(a.UidMappings, syscall.SysProcIDMap{ContainerID: id, HostID: id, Size: 1})
		a.GidMappings = append(a.GidMappings, syscall.SysProcIDMap{ContainerID: id, HostID: id, Size: 1})
		a.GidMappingsEnableSetgroups = true
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: create namespaces (user, mount, pid, uts): %w; "+
			"the kernel may forbid user namespaces (check /proc/sys/kernel/unprivileged_userns_clone "+
			"and user.max_user_namespaces)", spec.Name, err)
	}
	n := &node{spec: spec, dir: dir, init: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	ready := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- strings.TrimSpace(line) == "ready"
	}()
	go func() { _ = cmd.Wait(); close(n.done) }()
	select {
	case ok := <-ready:
		if ok {
			return n, nil
		}
		<-n.done
		return nil, fmt.Errorf("node %s: namespace setup failed: %s", spec.Name, strings.TrimSpace(stderr.String()))
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	n.stop()
	return nil, fmt.Errorf("node %s: namespace setup did not finish: %s", spec.Name, strings.TrimSpace(stderr.String()))
}

// stop kills the node's init; the kernel then kills every process left in
// its pid namespace, so nothing of the node survives.
func (n *node) stop() {
	_ = syscall.Kill(n.pid, syscall.SIGKILL)
	<-n.done
}

// command returns a command that runs argv inside the node's namespaces,
// in /root (--wd takes the init's cwd; a path would be opened on the host).
// nsenter forks (a pid namespace applies to children), so the returned
// process is nsenter and the node's process is its only child; see childPID.
func (n *node) command(ctx context.Context, argv ...string) *exec.Cmd {
	args := append([]string{"-t", strconv.Itoa(n.pid), "-U", "-m", "-u", "-p",
		"--preserve-credentials", "--wd", "--"}, argv...)
	cmd := exec.CommandContext(ctx, "nsenter", args...)
	cmd.Env = []string{"PATH=" + nodePath, "HOME=/root", "USER=root", "LANG=C.UTF-8"}
	// Killing nsenter alone would orphan the node process inside the node:
	// kill the child (and the process group, when the caller made one).
	cmd.Cancel = func() error {
		if child, err := childPID(cmd.Process.Pid, 0); err == nil {
			_ = syscall.Kill(child, syscall.SIGKILL)
		}
		if pgid, err := syscall.Getpgid(cmd.Process.Pid); err == nil && pgid == cmd.Process.Pid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		return cmd.Process.Kill()
	}
	return cmd
}

// shell runs one shell line on the node and returns its combined output.
func (n *node) shell(ctx context.Context, line string) (string, error) {
	out, err := n.command(ctx, "sh", "-c", line).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node %s: %q: %w: %s", n.spec.Name, line, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// root is the node's filesystem as the lab daemon sees it.
func (n *node) root() string { return fmt.Sprintf("/proc/%d/root", n.pid) }

// childPID waits for nsenter (host pid parent) to fork the node process and
// returns that child's host pid, the process to signal: nsenter does not
// forward SIGTERM, it would die and orphan the child.
func childPID(parent int, within time.Duration) (int, error) {
	path := fmt.Sprintf("/proc/%d/task/%d/children", parent, parent)
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", path, err)
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			return strconv.Atoi(f[0])
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("nsenter %d forked no child within %s", parent, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
