package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ContainerdConfig is the node's /etc/containerd/config.toml: Debian's
// defaults with the production paths, plus what this machine needs
// (docs/real-kubelet.md): restrict_oom_score_adj (root here lacks
// CAP_SYS_RESOURCE, so runc cannot lower a container's oom_score_adj),
// the cgroupfs driver (no systemd), and kubeadm's pause image as the
// sandbox image (there is no registry to pull containerd's default from).
func ContainerdConfig() string {
	return fmt.Sprintf(`version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%s"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
`, Images()["pause"])
}

// CNIConfig is the node's /etc/cni/net.d/10-lab.conflist: a pod network
// configured as a node has one, so the CRI plugin reports NetworkReady and
// the kubelet reports the Node Ready (the engine's converge check waits for
// Ready). No CNI plugin binaries are installed: a pod that needs the pod
// network fails at sandbox creation; the static control-plane pods are
// host-network and never call CNI. The subnet exists only on paper.
const CNIConfig = `{
  "cniVersion": "1.0.0",
  "name": "lab",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]]}}
  ]
}
`

// Containerd is a node's running containerd.
type Containerd struct {
	cmd  *exec.Cmd
	done chan error
	Log  string // host path of its log
}

// StartContainerd writes the node's containerd config and starts
// containerd inside the node, waiting until it answers on its socket.
func (nd *Node) StartContainerd(ctx context.Context) (*Containerd, error) {
	if err := nd.WriteFile(ctx, "/etc/containerd/config.toml", ContainerdConfig()); err != nil {
		return nil, err
	}
	if err := nd.WriteFile(ctx, "/etc/cni/net.d/10-lab.conflist", CNIConfig); err != nil {
		return nil, err
	}
	logPath := filepath.Join(nd.Dir, "containerd.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the daemon outlives the call; Stop ends it.
	cmd := nd.daemon("containerd", "--config", "/etc/containerd/config.toml")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	c := &Containerd{cmd: cmd, done: make(chan error, 1), Log: logPath}
	go func() { c.done <- cmd.Wait(); lf.Close() }()
	// containerd starts in well under a second; 60 s bounds a loaded machine.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := nd.Run(ctx, "ctr", "version"); err == nil {
			return c, nil
		}
		select {
		case err := <-c.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("containerd on %s exited: %v\n%s", nd.Name, err, tail(string(b), 15))
		case <-ctx.Done():
			c.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("containerd on %s did not answer within 60s\n%s", nd.Name, tail(string(b), 15))
		}
	}
}

// Stop ends containerd (its shims and containers stay, as on a node; the
// node's Remove ends them).
func (c *Containerd) Stop() {
	if c == nil || c.cmd.Process == nil {
		return
	}
	killGroup(c.cmd)
	<-c.done
	c.done <- nil
}

// ImportImages imports OCI archives (image name -> host path) into the
// node's containerd in the k8s.io namespace, where the CRI plugin looks,
// and checks each is there under its exact name.
func (nd *Node) ImportImages(ctx context.Context, archives map[string]string) error {
	for _, a := range archives {
		if _, err := nd.Run(ctx, "ctr", "-n", "k8s.io", "images", "import", a); err != nil {
			return err
		}
	}
	out, err := nd.Run(ctx, "ctr", "-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(out) {
		have[l] = true
	}
	for name := range archives {
		if !have[name] {
			return fmt.Errorf("%s: image %s missing after import; containerd has: %s", nd.Name, name, strings.Join(strings.Fields(out), " "))
		}
	}
	return nil
}
