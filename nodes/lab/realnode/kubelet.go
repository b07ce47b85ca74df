package realnode

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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

// StopTimeout is how long `systemctl stop|restart kubelet` waits after
// SIGTERM before it SIGKILLs. kubeadm's kubelet.service and its drop-in
// 10-kubeadm.conf (kubernetes/release) set no KillMode, KillSignal or
// TimeoutStopSec, so systemd's defaults apply: KillMode=control-group
// (every process of the unit's cgroup; the containers live in the
// kubelet's kubepods cgroups, not in it), SIGTERM, then SIGKILL after
// DefaultTimeoutStopSec, 90 s. The kubelet ends its run on the first
// SIGTERM (cmd/kubelet/app/server.go: SetupSignalContext, then returns).
const StopTimeout = 90 * time.Second

// DownFlag is what a kubelet held down (SetDownAfterRestart) is started
// with: the real kubelet refuses an unknown flag and exits 1 at once, so
// kubeadm's unit crash-loops as it does on a node whose kubelet cannot start.
const DownFlag = "--lab-fault-kubelet-down"

// Kubelet is a node's kubelet service: the real kubelet run as the kubeadm
// unit runs it, restarted like the unit restarts it.
type Kubelet struct {
	nd      *Node
	binary  string
	Log     string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd's whole process group is gone
	stopped bool
	starts  int
	started time.Time
	ended   time.Time // when the last run ended (zero while it runs)
	lastErr error
	// down: every start after the next restart runs the kubelet with
	// DownFlag (fault kubelet-down); downNext arms it.
	down, downNext bool
	wake           chan struct{}
	done           chan struct{}
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
		k.mu.Lock()
		if k.stopped {
			k.mu.Unlock()
			return
		}
		command := KubeletCommand
		if k.down {
			command += " " + DownFlag
		}
		cmd := k.nd.daemon("sh", "-c", command, k.binary)
		cmd.Stdout, cmd.Stderr = lf, lf
		exited := make(chan struct{})
		err := cmd.Start()
		k.cmd, k.exited = cmd, exited
		k.starts++
		k.started, k.ended = time.Now(), time.Time{}
		k.mu.Unlock()
		if err == nil {
			err = cmd.Wait()
			// nsenter may end before the kubelet (both get SIGTERM): the
			// run ends when its process group is empty, as a unit's stop
			// ends when its cgroup is. Bounded: stopRun SIGKILLs by then.
			for end := time.Now().Add(StopTimeout + 5*time.Second); groupAlive(cmd.Process.Pid) && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
		}
		close(exited)
		k.mu.Lock()
		k.lastErr, k.ended = err, time.Now()
		stopped := k.stopped
		k.mu.Unlock()
		if stopped {
			return
		}
		fmt.Fprintf(lf, "--- kubelet exited (%v); restarting in %s as kubelet.service does (at once for systemctl restart)\n", err, RestartDelay)
		select {
		case <-time.After(RestartDelay):
		case <-k.wake: // Restart: at once
		}
	}
}

// groupAlive: a process of group pg still exists (a zombie counts until
// the node's init reaps it, as systemd waits for the cgroup to empty).
func groupAlive(pg int) bool { return syscall.Kill(-pg, 0) == nil }

// Running reports whether the kubelet runs now (systemd: active
// (running)), and since when it runs or, if not (between a crash and the
// unit's restart: activating (auto-restart)), since when it does not.
func (k *Kubelet) Running() (bool, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ended.IsZero() && k.cmd != nil {
		return true, k.started
	}
	return false, k.ended
}

// SetDownAfterRestart is the fault kubelet-down: from the next Restart on,
// every start runs the real kubelet with DownFlag, so it exits 1 at once
// and the unit crash-loops every RestartDelay; the running containers stay.
func (k *Kubelet) SetDownAfterRestart() {
	k.mu.Lock()
	k.downNext = true
	k.mu.Unlock()
}

// Down reports whether the fault kubelet-down holds the kubelet down.
func (k *Kubelet) Down() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.down
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

// StopResult is how a stop of the running kubelet went.
type StopResult struct {
	Took   time.Duration // from SIGTERM until the process group was gone
	Killed bool          // still there after StopTimeout: SIGKILLed
}

// Restart is `systemctl restart kubelet`: systemd's stop (SIGTERM to the
// unit's processes, SIGKILL after StopTimeout, waiting until they are
// gone), then a start at once; the containers keep running.
func (k *Kubelet) Restart() StopResult {
	return k.restart(StopTimeout)
}

func (k *Kubelet) restart(timeout time.Duration) StopResult {
	r := k.stopRun(timeout)
	k.mu.Lock()
	if k.downNext {
		k.down = true
	}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return r
}

// stopRun ends the running kubelet as systemd stops a unit: SIGTERM to
// its process group, SIGKILL once timeout passes, and back once the group
// is gone. A kubelet between two starts has nothing to stop.
func (k *Kubelet) stopRun(timeout time.Duration) StopResult {
	k.mu.Lock()
	cmd, exited := k.cmd, k.exited
	k.mu.Unlock()
	if cmd == nil || cmd.Process == nil || exited == nil {
		return StopResult{}
	}
	select {
	case <-exited: // ended already: its group id may be another's by now
		return StopResult{}
	default:
	}
	start := time.Now()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
		return StopResult{Took: time.Since(start)}
	case <-time.After(timeout):
	}
	killGroup(cmd)
	<-exited
	return StopResult{Took: time.Since(start), Killed: true}
}

// Stop ends the service for good when the lab goes down: SIGKILL at once
// (no operator command does this; the node's Remove ends its containers).
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
