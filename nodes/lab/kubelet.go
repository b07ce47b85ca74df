package lab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// Kubelet timing, as the real kubelet's (pkg/kubelet: inotify on the
// manifests dir, housekeeping every 2 s, crash backoff 10 s doubling to
// 5 min, 30 s grace when a pod sets none, never under 2 s). The poll stands
// in for inotify.
const (
	manifestPoll     = 300 * time.Millisecond
	housekeeping     = 2 * time.Second
	defaultGrace     = 30 * time.Second
	minGrace         = 2 * time.Second
	maxGraceSeconds  = int64(24 * time.Hour / time.Second) // no overflow into a negative grace
	backoffInitial   = 10 * time.Second
	backoffMax       = 5 * time.Minute
	plegRelist       = time.Second // how soon the kubelet sees a first crash
	backoffForgotten = 2 * backoffMax
	// teardownGrace bounds the grace when the lab itself goes down: that is
	// no step of a procedure, and kube-apiserver would take its full 30 s
	// in every test's cleanup.
	teardownGrace = 2 * time.Second
)

// kubelet is the lab kubelet of one node: it runs the static pods of the
// node's /etc/kubernetes/manifests as real processes inside the node.
type kubelet struct {
	n  *node
	tl *timeline

	mu       sync.Mutex
	pods     map[string]*pod  // by pod name, as the real kubelet keys static pods
	started  time.Time        // last (re)start, what `systemctl show kubelet` reports
	ignoreRm map[string]bool  // fault knob: pod names whose manifest removal is ignored
	units    map[string]*unit // systemd services the lab plays (etcd in systemd mode)
	// notReady is the fault knob "config sources never synced": a kubelet
	// started while its apiserver did not answer skips every pod delete and
	// housekeeping (kubelet.go deletePod: "sources aren't ready").
	notReady bool
	// apiSourceSeen: this invocation's apiserver source has synced
	// (kubelet_sources.go); a restart clears it. Atomic, not under mu:
	// startAPI holds mu while it waits for the old invocation to end.
	apiSourceSeen atomic.Bool
	// bmu guards backoff alone: a supervisor records a crash while stopUnit
	// may hold mu waiting for that very process to end.
	bmu     sync.Mutex
	backoff map[string]*backoff // crash backoff by pod UID
	// wake is closed by a restart: a supervisor waiting out a crash
	// backoff the new process does not have starts its pod at once.
	wake chan struct{}
	// stopping holds pods being stopped, by name: a static pod of the same
	// name starts only once the old one has ended (pod_workers.go
	// allowStaticPodStart).
	stopping map[string]*pod
	teardown atomic.Bool // the lab is going down: see teardownGrace

	// The API side (kubelet_node.go): where it registers and renews its
	// Lease, the running invocation's stop, and the kubelet-down fault.
	api              *kubeletAPI
	runCtx           context.Context
	apiStop          func()
	downAfterRestart bool // fault: the next restart does not come back
	stayedDown       bool
}

// backoff is one UID's crash backoff (client-go flowcontrol.Backoff).
type backoff struct {
	next time.Duration
	last time.Time
}

// pod is one supervised static pod.
type pod struct {
	file, name string
	uid        string // hashed from content, node and path (config/common.go)
	grace      time.Duration
	image      string // the main container's image: which binaries it runs (imagePath)
	argv       []string
	env        []string
	mounts     []string // triples: hostPath type, hostPath, mountPath
	dataDir    string   // etcd only: the node dir holding its data, for Verify
	stop       chan struct{}
	done       chan struct{}

	mu      sync.Mutex
	pid     int // host pid of the running container process; 0 when not running
	started time.Time
	tries   int
}

func newKubelet(n *node, tl *timeline) *kubelet {
	return &kubelet{n: n, tl: tl, pods: map[string]*pod{}, ignoreRm: map[string]bool{},
		started: time.Now(), units: map[string]*unit{}, backoff: map[string]*backoff{},
		stopping: map[string]*pod{}}
}

// run syncs the manifests dir until ctx ends, then stops every pod.
func (k *kubelet) run(ctx context.Context) {
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvKubeletStart})
	k.mu.Lock()
	k.runCtx = ctx
	k.mu.Unlock()
	k.startAPI(false)
	t := time.NewTicker(manifestPoll)
	defer t.Stop()
	for {
		k.sync()
		select {
		case <-ctx.Done():
			k.stopAPI()
			k.stopAll()
			return
		case <-t.C:
		}
	}
}

// restart is `systemctl restart kubelet`: like the real kubelet, static pods
// whose manifest is unchanged keep running, changed ones restart (sync does
// that anyway); the restart time is what the engine verifies against.
func (k *kubelet) restart() {
	k.mu.Lock()
	k.started = time.Now()
	// The new process knows nothing of pods the old one terminated: a
	// manifest put back runs at once, without the UID-reuse wait for a
	// housekeeping pass (which an unsynced kubelet never runs).
	for name, p := range k.stopping {
		select {
		case <-p.done:
			delete(k.stopping, name)
		default:
		}
	}
	k.mu.Unlock()
	k.bmu.Lock()
	k.backoff = map[string]*backoff{} // the real kubelet keeps it in memory only
	if k.wake != nil {
		close(k.wake) // and a new process starts an exited container on its first sync
	}
	k.wake = make(chan struct{})
	k.bmu.Unlock()
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvKubeletRestart})
	k.startAPI(true)
	k.sync()
}

func (k *kubelet) startedAt() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.started
}

// sync compares the manifests on disk with the running pods. A pod whose
// manifest is gone, or whose UID changed, is deleted — unless the config
// sources have not all synced (since the last restart), when the real
// kubelet skips every delete.
func (k *kubelet) sync() {
	want := k.readManifests()
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, p := range k.pods {
		w, ok := want[name]
		if ok && w.uid == p.uid {
			continue
		}
		if !k.sourcesReady() || (!ok && k.ignoreRm[name]) {
			delete(want, name) // the old one keeps running; the new waits for it
			continue
		}
		k.stopPod(p)
		k.stopping[name] = p
		delete(k.pods, name)
	}
	for name, w := range want {
		if _, ok := k.pods[name]; !ok {
			k.pods[name] = w
			go k.supervise(w, k.stopping[name])
		}
	}
}

// readManifests parses every manifest the real kubelet would read: every
// non-dot file (config/file.go globs "[^.]*"), in name order. The real file
// source keeps its pods in a store keyed by namespace/name
// (cache.NewUndeltaStore with MetaNamespaceKeyFunc, config/file.go), so of
// two files declaring one pod name the one stored last wins: at a relist,
// the later in name order. A stray etcd.yaml.bak therefore replaces the
// running etcd with its own pod (another UID: the file path is hashed in)
// as soon as the kubelet reads it, and keeps etcd running when etcd.yaml is
// moved away. A manifest that does not parse is skipped, as the real
// kubelet does, and noted in the timeline. (The real kubelet also acts on
// inotify events: removing the .bak deletes the pod until the next relist,
// up to 20 s later, stopping etcd; this lab reads the whole directory each
// poll, as a relist, and starts the remaining file's pod at once.)
func (k *kubelet) readManifests() map[string]*pod {
	const dir = "/etc/kubernetes/manifests"
	entries, _ := os.ReadDir(filepath.Join(k.n.root(), dir)) // sorted by name
	out := map[string]*pod{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(k.n.root(), dir, e.Name()))
		if err != nil {
			continue
		}
		p, err := podFrom(e.Name(), data)
		if err != nil {
			k.noteBad(e.Name(), err)
			continue
		}
		if earlier, dup := out[p.name]; dup {
			k.noteBad(earlier.file, fmt.Errorf("duplicate pod name %q: replaced by the later file %s, as the kubelet's store keyed by name does", p.name, e.Name()))
		}
		p.uid = podUID(data, k.n.spec.Name, path.Join(dir, e.Name()))
		out[p.name] = p
	}
	return out
}

// podUID is the static pod's UID: a hash of its manifest, node and file
// path (config/common.go applyDefaults), so the same content moved back
// into place is the same pod, and the same content in another file is not.
func podUID(data []byte, node, file string) string {
	h := sha256.New()
	h.Write(data)
	fmt.Fprintf(h, "host:%s", node)
	fmt.Fprintf(h, "file:%s", file)
	return fmt.Sprintf("%x", h.Sum(nil)[:16])
}

func (k *kubelet) noteBad(file string, err error) {
	k.tl.add(Event{Node: k.n.spec.Name, Kind: "manifest-error",
		Detail: fmt.Sprintf("/etc/kubernetes/manifests/%s: %v", file, err)})
}

// podFrom turns a static pod manifest into what the lab runs: the main
// container's command+args, env, and its hostPath volume mounts.
func podFrom(file string, data []byte) (*pod, error) {
	sp, err := manifest.Parse(data)
	if err != nil {
		return nil, err
	}
	c := sp.MainContainer()
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 {
		return nil, fmt.Errorf("line %d: container %q has no command", c.Line, c.Name)
	}
	p := &pod{file: file, name: sp.Name, image: c.Image, argv: argv, grace: defaultGrace,
		stop: make(chan struct{}), done: make(chan struct{})}
	if g := sp.TerminationGracePeriodSeconds; g != nil {
		p.grace = time.Duration(min(*g, maxGraceSeconds)) * time.Second
	}
	// The real kubelet never kills sooner: pod_workers.go raises anything
	// under 1 s to 1 s and kuberuntime's killContainer anything under 2 s
	// to 2 s (minimumGracePeriodInSeconds).
	p.grace = max(p.grace, minGrace)
	for _, e := range c.Env {
		p.env = append(p.env, e.Name+"="+e.Value)
	}
	for _, vm := range c.VolumeMounts {
		host, ok := sp.HostPath(vm.Name)
		if !ok {
			continue
		}
		typ := ""
		for _, v := range sp.Volumes {
			if v.Name == vm.Name && v.HostPath != nil {
				typ = v.HostPath.Type
			}
		}
		p.mounts = append(p.mounts, typ, host, vm.MountPath)
	}
	if m, err := manifest.EtcdMemberFrom(sp); err == nil && sp.Name == "etcd" {
		p.dataDir = m.HostDataDir
	}
	return p, nil
}

func (k *kubelet) stopPod(p *pod) {
	close(p.stop)
}

// stopAll stops every pod and unit and waits for them, for lab shutdown.
func (k *kubelet) stopAll() {
	k.teardown.Store(true)
	k.mu.Lock()
	for _, u := range k.units {
		k.stopUnit(u)
	}
	pods := make([]*pod, 0, len(k.pods)+len(k.stopping))
	for _, p := range k.pods {
		pods = append(pods, p)
		k.stopPod(p)
	}
	for _, p := range k.stopping {
		pods = append(pods, p)
	}
	k.pods = map[string]*pod{}
	k.mu.Unlock()
	for _, p := range pods {
		<-p.done
	}
}

// running lists running pods sorted by name, for crictl ps.
func (k *kubelet) running() []podStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []podStatus
	for _, p := range k.pods {
		p.mu.Lock()
		if p.pid != 0 {
			out = append(out, podStatus{Name: p.name, PID: p.pid, Started: p.started, Attempt: p.tries - 1,
				ID: p.uid[:12]})
		}
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type podStatus struct {
	Name    string
	ID      string
	PID     int
	Started time.Time
	Attempt int
}

// setIgnoreRemoval is the fault knob "the kubelet does not stop this pod
// when its manifest disappears" (a stuck kubelet, a wrong manifests dir).
func (k *kubelet) setIgnoreRemoval(podName string, on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ignoreRm[podName] = on
}

// setSourcesNotReady is the fault knob "the kubelet started while no
// apiserver answered and its config sources never synced": deletes and
// housekeeping are skipped, so a parked manifest's pod keeps running.
func (k *kubelet) setSourcesNotReady(on bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.notReady = on
}

// killSignal sends sig to the pod's process if it runs.
func (p *pod) killSignal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid != 0 {
		_ = syscall.Kill(p.pid, sig)
	}
}
