package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KubeletCommand is how kubeadm's systemd drop-in (10-kubeadm.conf) starts
// the kubelet: the kubeconfigs, the config kubeadm wrote and the flags of
// kubeadm-flags.env ($0 is the kubelet binary).
const KubeletCommand = `. /var/lib/kubelet/kubeadm-flags.env 2>/dev/null; exec "$0" ` +
	`--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf ` +
	`--config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS`

// RestartDelay is kubeadm's kubelet.service RestartSec (with Restart=always,
// StartLimitInterval=0): a kubelet that exits (no config yet, a crash) is
// started again 10 s later.
const RestartDelay = 10 * time.Second

// Kubelet is a node's kubelet service: the real kubelet run as the kubeadm
// unit runs it, restarted like the unit restarts it.
type Kubelet struct {
	nd      *Node
	binary  string
	Log     string
	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped bool
	starts  int
	started time.Time
	lastErr error
	wake    chan struct{}
	done    chan struct{}
}

// StartKubelet creates the node's cgroup root (the kubelet refuses a
// cgroupRoot that does not exist) and starts the kubelet service.
func (nd *Node) StartKubelet(kubelet string) (*Kubelet, error) {
	if err := makeCgroupRoot(nd.CgroupRoot()); err != nil {
		return nil, err
	}
	k := &Kubelet{nd: nd, binary: kubelet, Log: filepath.Join(nd.Dir, "kubelet.log"),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	lf, err := os.OpenFile(k.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	go k.loop(lf)
	return k, nil
}

func (k *Kubelet) loop(lf *os.File) {
	defer close(k.done)
	defer lf.Close()
	for {
		cmd := k.nd.daemon("sh", "-c", KubeletCommand, k.binary)
		cmd.Stdout, cmd.Stderr = lf, lf
		k.mu.Lock()
		if k.stopped {
			k.mu.Unlock()
			return
		}
		err := cmd.Start()
		k.cmd = cmd
		k.starts++
		k.started = time.Now()
		k.mu.Unlock()
		if err == nil {
			err = cmd.Wait()
		}
		k.mu.Lock()
		k.lastErr = err
		stopped := k.stopped
		k.mu.Unlock()
		if stopped {
			return
		}
		fmt.Fprintf(lf, "--- kubelet exited (%v); restarting in %s as kubelet.service does\n", err, RestartDelay)
		select {
		case <-time.After(RestartDelay):
		case <-k.wake: // Restart: at once
		}
	}
}

// Starts is how many times the service started the kubelet, and the last
// exit error.
func (k *Kubelet) Starts() (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.starts, k.lastErr
}

// StartedAt is when the service last started the kubelet (systemd's
// ExecMainStartTimestamp; every start is a new invocation).
func (k *Kubelet) StartedAt() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.started
}

// Restart is `systemctl restart kubelet`: the running kubelet is killed
// and started again at once; its containers keep running.
func (k *Kubelet) Restart() {
	k.mu.Lock()
	killGroup(k.cmd)
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Stop is `systemctl stop kubelet`: the kubelet ends, its containers keep
// running (the node's Remove ends them).
func (k *Kubelet) Stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.stopped = true
	killGroup(k.cmd)
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	<-k.done
}

// makeCgroupRoot creates root in every cgroup v1 hierarchy (cpuset with
// its parent's cpus and mems, without which no task may join it).
func makeCgroupRoot(root string) error {
	hier, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	for _, h := range hier {
		base := filepath.Join("/sys/fs/cgroup", h.Name())
		if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil {
			continue
		}
		d := filepath.Join(base, root)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", d, err)
		}
		if h.Name() == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(base, f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(d, f), []byte(strings.TrimSpace(string(b))), 0o644); err != nil {
					return fmt.Errorf("cgroup %s/%s: %w", d, f, err)
				}
			}
		}
	}
	return nil
}
