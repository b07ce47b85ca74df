package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// podScript runs inside a pod's own mount namespace (unshare --mount, within
// the node's namespaces) and gives the container its hostPath volumes at
// their mountPaths with bind mounts, so a manifest whose etcd-data hostPath
// points at /var/lib/etcd-restored-X makes etcd see that dir at
// /var/lib/etcd, exactly as on a kubeadm node. Arguments: triples of
// (hostPath type, hostPath, mountPath), then "--", then the container argv.
const podScript = `set -eu
while [ "$1" != "--" ]; do
  t="$1"; h="$2"; m="$3"; shift 3
  case "$t" in
    DirectoryOrCreate|"") [ -e "$h" ] || mkdir -p "$h" ;;
    FileOrCreate) [ -e "$h" ] || { mkdir -p "$(dirname "$h")"; : > "$h"; } ;;
  esac
  [ -e "$h" ] || { echo "hostPath $h does not exist (type $t)" >&2; exit 125; }
  if [ "$h" != "$m" ]; then
    if [ ! -e "$m" ]; then
      if [ -d "$h" ]; then mkdir -p "$m"; else mkdir -p "$(dirname "$m")"; : > "$m"; fi
    fi
    mount --bind "$h" "$m"
  fi
done
shift
exec "$@"
`

// supervise runs p until it is stopped, restarting it with the kubelet's
// crash backoff when it exits on its own. A pod of the same name still
// being stopped (prev) ends first; the same pod re-added (same UID) comes
// back only through housekeeping, which a kubelet whose sources never
// synced does not run.
func (k *kubelet) supervise(p, prev *pod) {
	defer close(p.done)
	if prev != nil {
		select {
		case <-prev.done:
		case <-p.stop:
			<-prev.done // a pod started after p must also wait for prev
			return
		}
		k.forgetStopping(prev)
		if prev.uid == p.uid && !k.waitHousekeeping(p) {
			return
		}
	}
	for {
		exit, err := k.runOnce(p)
		select {
		case <-p.stop:
			return
		default:
		}
		wake := k.restartWake()
		delay := k.crashDelay(p.uid)
		detail := fmt.Sprintf("exited on its own (code %d); restarting in %s", exit, delay)
		if err != nil {
			detail = fmt.Sprintf("%v; restarting in %s", err, delay)
		}
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "pod-crash", Pod: p.name, Detail: detail})
		select {
		case <-p.stop:
			return
		case <-time.After(delay):
		case <-wake: // the kubelet restarted: its backoff is gone
		}
	}
}

// restartWake is closed when the kubelet next restarts.
func (k *kubelet) restartWake() <-chan struct{} {
	k.bmu.Lock()
	defer k.bmu.Unlock()
	if k.wake == nil {
		k.wake = make(chan struct{})
	}
	return k.wake
}

// waitHousekeeping waits for the next housekeeping pass that runs (none
// while the sources are not ready); false when p was stopped meanwhile.
func (k *kubelet) waitHousekeeping(p *pod) bool {
	for {
		select {
		case <-p.stop:
			return false
		case <-time.After(housekeeping):
		}
		k.mu.Lock()
		ready := k.sourcesReady()
		k.mu.Unlock()
		if ready {
			return true
		}
	}
}

func (k *kubelet) forgetStopping(prev *pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stopping[prev.name] == prev {
		delete(k.stopping, prev.name)
	}
}

// crashDelay is how long the kubelet waits before restarting a crashed
// container of pod uid (kuberuntime doBackOff over flowcontrol.Backoff):
// the first crash restarts as soon as the kubelet notices it, later ones
// after 10 s doubling to 5 min; the record is forgotten 10 min after its
// last use.
func (k *kubelet) crashDelay(uid string) time.Duration {
	k.bmu.Lock()
	defer k.bmu.Unlock()
	now := time.Now()
	b := k.backoff[uid]
	if b == nil || now.Sub(b.last) > backoffForgotten {
		k.backoff[uid] = &backoff{next: backoffInitial, last: now}
		return plegRelist
	}
	d := b.next
	b.next, b.last = min(2*b.next, backoffMax), now
	return d
}

// runOnce starts the pod's process and waits for it to exit or be stopped.
func (k *kubelet) runOnce(p *pod) (int, error) {
	args := []string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c", podScript, "lab-pod"}
	args = append(append(append(args, p.mounts...), "--"), p.argv...)
	cmd := k.n.command(context.Background(), args...)
	if dir := imagePath(p.image); dir != "" {
		if _, err := os.Stat(filepath.Join(k.n.root(), dir)); err == nil {
			// The image's binaries first, as a container sees its own.
			cmd.Env = append(cmd.Env, "PATH="+dir+":"+nodePath)
		}
	}
	cmd.Env = append(cmd.Env, p.env...)
	logPath := filepath.Join(k.n.dir, "logs", p.name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return -1, err
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return -1, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return -1, fmt.Errorf("start %s: %w", p.name, err)
	}
	pid, err := childPID(cmd.Process.Pid, 5*time.Second)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return -1, fmt.Errorf("start %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.pid, p.started = pid, time.Now()
	p.tries++
	p.mu.Unlock()
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvPodStart, Pod: p.name, PID: pid,
		Command: strings.Join(p.argv, " "), Detail: "nsenter pid " + fmt.Sprint(cmd.Process.Pid)})
	exited := make(chan struct{})
	go func() {
		select {
		case <-p.stop:
			grace := p.grace
			if k.teardown.Load() {
				grace = min(grace, teardownGrace)
			}
			stopProcess(p, exited, grace)
		case <-exited:
		}
	}()
	// The exit status is read from ProcessState; Wait's error only repeats it.
	_ = cmd.Wait()
	close(exited)
	p.mu.Lock()
	p.pid = 0
	p.mu.Unlock()
	code := cmd.ProcessState.ExitCode()
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvPodExit, Pod: p.name, PID: pid, Exit: &code,
		Detail: cmd.ProcessState.String()})
	k.recordDataDir(p)
	return code, nil
}

// stopProcess is the kubelet's kill: SIGTERM, then SIGKILL after the pod's
// termination grace period (30 s when the manifest sets none).
func stopProcess(p *pod, exited <-chan struct{}, grace time.Duration) {
	p.killSignal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		p.killSignal(syscall.SIGKILL)
	}
}

// imagePath is the node dir holding an image's binaries, if the lab has
// them: registry.k8s.io/etcd:3.6.6-0 is /usr/local/bin/.images/etcd-3.6.6-0
// (see imageDir). An image without one runs from the node's PATH.
func imagePath(image string) string {
	image, _, _ = strings.Cut(image, "@")
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return ""
	}
	repo := image[:i]
	return "/usr/local/bin/.images/" + repo[strings.LastIndex(repo, "/")+1:] + "-" + image[i+1:]
}
