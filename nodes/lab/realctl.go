package lab

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// serveRealCtl serves the node's systemctl and crictl shims on a unix
// socket in the node's directory until ctx ends.
func (l *Lab) serveRealCtl(ctx context.Context, cn *realnode.ClusterNode) (func(), error) {
	sock := realCtlSocket(cn)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("node %s: control socket: %w", cn.Name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/systemctl", func(w http.ResponseWriter, r *http.Request) {
		code, out := l.realSystemctl(r.Context(), cn, strings.Fields(r.URL.Query().Get("args")))
		fmt.Fprintf(w, "%d\n%s", code, out)
	})
	mux.HandleFunc("/crictl", func(w http.ResponseWriter, r *http.Request) {
		code, out := l.realCrictl(r.Context(), cn, strings.Fields(r.URL.Query().Get("args")))
		fmt.Fprintf(w, "%d\n%s", code, out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.tl.add(Event{Node: cn.Name, Kind: "ctl-error", Detail: err.Error()})
		}
	}()
	return func() { _ = srv.Close(); <-done; _ = os.Remove(sock) }, nil
}

// realSystemctl is systemctl for the node's kubelet.service. restart is
// systemd's stop of kubeadm's unit (SIGTERM to the kubelet's processes,
// SIGKILL after 90 s; realnode.StopTimeout) and a start at once: the
// containers keep running, and every start is a new InvocationID. The state
// is the kubelet's real one: a kubelet that exited (fault kubelet-down: it
// refuses its flags) is "activating (auto-restart)" until the unit's next
// start 10 s later, as systemd reports kubeadm's crash-looping unit. Other
// units do not exist on a kubeadm node here.
func (l *Lab) realSystemctl(ctx context.Context, cn *realnode.ClusterNode, args []string) (int, string) {
	sc := parseSystemctl(args)
	verb, unit, props, valueOnly := sc.verb, sc.unit, sc.props, sc.valueOnly
	l.tl.add(Event{Node: cn.Name, Kind: EvUnit, Command: "systemctl " + strings.Join(args, " ")})
	if verb == "daemon-reload" {
		return 0, ""
	}
	if unit != "kubelet" || cn.Kubelet == nil {
		return 4, fmt.Sprintf("Unit %s.service could not be found.\n", unit)
	}
	k := cn.Kubelet
	switch verb {
	case "restart", "start", "reload-or-restart", "try-restart":
		before, _ := k.Starts()
		if running, _ := k.Running(); running && verb == "start" {
			return 0, "" // already active: systemd does nothing
		}
		stop := k.Restart() // nothing running: only the start
		// systemctl returns once the new main process is forked (Type=simple).
		for n, _ := k.Starts(); n == before; n, _ = k.Starts() {
			select {
			case <-ctx.Done():
				return 1, "Job for kubelet.service canceled.\n"
			case <-time.After(20 * time.Millisecond):
			}
		}
		how := fmt.Sprintf("systemctl %s: SIGTERM, stopped in %s", verb, stop.Took.Round(time.Millisecond))
		if stop.Killed {
			how = fmt.Sprintf("systemctl %s: SIGTERM, SIGKILL after %s", verb, realnode.StopTimeout)
		}
		if k.Down() {
			how += "; kubelet did not come back (fault kubelet-down)"
		}
		l.tl.add(Event{Node: cn.Name, Kind: EvKubeletRestart, Detail: how})
		return 0, ""
	}
	running, since := k.Running()
	stamp := since.UTC().Format("Mon 2006-01-02 15:04:05 MST")
	switch verb {
	case "is-active":
		if !running {
			return 3, "activating\n"
		}
		return 0, "active\n"
	case "status":
		if !running {
			return 3, fmt.Sprintf("● kubelet.service - kubelet: The Kubernetes Node Agent\n"+
				"     Active: activating (auto-restart) (Result: exit-code) since %s\n", stamp)
		}
		return 0, fmt.Sprintf("● kubelet.service - kubelet: The Kubernetes Node Agent\n     Active: active (running) since %s\n", stamp)
	case "show":
		started := k.StartedAt()
		inv := sha256.Sum256([]byte(cn.Name + "/" + started.UTC().Format(time.RFC3339Nano)))
		startStamp := started.UTC().Format("Mon 2006-01-02 15:04:05 MST")
		all := map[string]string{"ActiveState": "active", "SubState": "running", "Result": "success", "Id": "kubelet.service",
			"ActiveEnterTimestamp": startStamp, "ExecMainStartTimestamp": startStamp, "InvocationID": fmt.Sprintf("%x", inv[:16])}
		if !running {
			all["ActiveState"], all["SubState"], all["Result"] = "activating", "auto-restart", "exit-code"
		}
		if len(props) == 0 {
			props = []string{"Id", "ActiveState", "SubState", "ActiveEnterTimestamp", "ExecMainStartTimestamp", "InvocationID"}
		}
		var b strings.Builder
		for _, p := range props {
			if valueOnly {
				fmt.Fprintln(&b, all[p])
			} else {
				fmt.Fprintf(&b, "%s=%s\n", p, all[p])
			}
		}
		return 0, b.String()
	}
	return 1, fmt.Sprintf("systemctl (lab): %q on kubelet is not supported on the real tier\n", verb)
}

// realCrictl is `crictl ps [-a] [-q] [--name REGEX]` answered from the
// node's containerd over the CRI API (bookworm packages no cri-tools).
func (l *Lab) realCrictl(ctx context.Context, cn *realnode.ClusterNode, args []string) (int, string) {
	l.tl.add(Event{Node: cn.Name, Kind: EvUnit, Command: "crictl " + strings.Join(args, " ")})
	if len(args) == 0 || args[0] != "ps" {
		return 1, "crictl (lab): only `crictl ps` is supported on the real tier\n"
	}
	quiet, all, name := false, false, ""
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-a" || a == "--all":
			all = true
		case a == "--name" && i+1 < len(args):
			i++
			name = args[i]
		case strings.HasPrefix(a, "--name="):
			name = strings.TrimPrefix(a, "--name=")
		}
	}
	re, err := regexp.Compile(name)
	if err != nil {
		return 1, "crictl: --name: " + err.Error() + "\n"
	}
	cs, err := cn.Containerd.Containers(ctx)
	if err != nil {
		return 1, err.Error() + "\n"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD")
	}
	for i := len(cs) - 1; i >= 0; i-- { // newest first, as crictl
		c := cs[i]
		running := c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
		if (!all && !running) || !re.MatchString(c.Name) {
			continue
		}
		if quiet {
			fmt.Fprintln(tw, c.ID)
			continue
		}
		state := strings.TrimPrefix(c.State.String(), "CONTAINER_")
		fmt.Fprintf(tw, "%.13s\t%s\t%s ago\t%s\t%s\t%d\t%s\n", c.ID, c.Image, time.Since(c.Created).Round(time.Second), state, c.Name, c.Attempt, c.Pod)
	}
	_ = tw.Flush()
	return 0, b.String()
}

// watchPods turns the node's container changes, read from its containerd
// over the CRI API, into the timeline's pod-start and pod-exit events, at
// the times the runtime records (so a poll's delay does not move them), with
// the container's host pid; and digests /var/lib/etcd when an etcd
// container exits, as the default tier's kubelet does.
func (l *Lab) watchPods(ctx context.Context, cn *realnode.ClusterNode) {
	type seen struct {
		pid              int
		started, running bool
		pod              string
	}
	known := map[string]*seen{}
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a stuck containerd must not stop the watch
		cs, err := cn.Containerd.Containers(pctx)
		if err == nil {
			present := map[string]bool{}
			for _, c := range cs {
				present[c.ID] = true
				running := c.State == runtimeapi.ContainerState_CONTAINER_RUNNING
				k := known[c.ID]
				if k == nil {
					k = &seen{pod: c.Name}
					known[c.ID] = k
				}
				// A container is first seen CREATED, RUNNING or already
				// EXITED; its start is recorded once it has one.
				if !k.started && (running || c.State == runtimeapi.ContainerState_CONTAINER_EXITED) {
					if started, _, err := cn.Containerd.Times(pctx, c.ID); err == nil && !started.IsZero() {
						k.pid = containerHostPID(cn, c.ID)
						l.tl.add(Event{Time: started, Node: cn.Name, Kind: EvPodStart, Pod: c.Name, PID: k.pid,
							Detail: "container " + c.ID[:13] + " (CRI)"})
						k.started, k.running = true, true
					}
				}
				if k.running && !running && c.State != runtimeapi.ContainerState_CONTAINER_CREATED {
					_, finished, _ := cn.Containerd.Times(pctx, c.ID)
					l.podExit(cn, k.pod, k.pid, c.ID, finished)
					k.running = false
				}
			}
			for id, k := range known {
				if !present[id] {
					if k.running {
						l.podExit(cn, k.pod, k.pid, id, time.Time{})
					}
					delete(known, id)
				}
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (l *Lab) podExit(cn *realnode.ClusterNode, pod string, pid int, id string, at time.Time) {
	l.tl.add(Event{Time: at, Node: cn.Name, Kind: EvPodExit, Pod: pod, PID: pid, Detail: "container " + id[:13] + " (CRI)"})
	if pod == "etcd" {
		const dataDir = "/var/lib/etcd"
		if d, err := dirDigest(filepath.Join(fmt.Sprintf("/proc/%d/root", cn.InitPID), dataDir)); err == nil {
			l.tl.add(Event{Node: cn.Name, Kind: EvEtcdData, DataDir: dataDir, Digest: d})
		}
	}
}

// containerHostPID is the host pid of a container's first process, from
// its cgroup under the node's cgroup root (the kubelet's cgroupfs layout
// names the container's cgroup by its ID). When none is found (the
// container already exited), a negative number derived from the ID stands
// in: unique per container, and never a live pid for `lab down`'s check.
func containerHostPID(cn *realnode.ClusterNode, id string) int {
	for _, base := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup"} {
		pid := 0
		_ = filepath.WalkDir(filepath.Join(base, cn.CgroupRoot()), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() || pid != 0 {
				return nil
			}
			if d.Name() == id {
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				if f := strings.Fields(string(b)); len(f) > 0 {
					pid, _ = strconv.Atoi(f[0])
				}
				return filepath.SkipDir
			}
			return nil
		})
		if pid != 0 {
			return pid
		}
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return -int(h.Sum32()&0x7fffffff) - 1
}
