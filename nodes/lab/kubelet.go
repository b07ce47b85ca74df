package lab

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// Kubelet timing: fast enough for drills, slow enough not to spin.
const (
	manifestPoll = 300 * time.Millisecond
	stopGrace    = 5 * time.Second // SIGTERM, then SIGKILL (kubeadm pods: 30 s)
	backoffMax   = 10 * time.Second
)

// kubelet is the lab kubelet of one node: it runs the static pods of the
// node's /etc/kubernetes/manifests as real processes inside the node.
type kubelet struct {
	n  *node
	tl *timeline

	mu       sync.Mutex
	pods     map[string]*pod  // by manifest file name
	started  time.Time        // last (re)start, what `systemctl show kubelet` reports
	ignoreRm map[string]bool  // fault knob: pod names whose manifest removal is ignored
	units    map[string]*unit // systemd services the lab plays (etcd in systemd mode)
}

// pod is one supervised static pod.
type pod struct {
	file, name string
	image      string // the main container's image: which binaries it runs (imagePath)
	hash       [32]byte
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
		started: time.Now(), units: map[string]*unit{}}
}

// run syncs the manifests dir until ctx ends, then stops every pod.
func (k *kubelet) run(ctx context.Context) {
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvKubeletStart})
	t := time.NewTicker(manifestPoll)
	defer t.Stop()
	for {
		k.sync()
		select {
		case <-ctx.Done():
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
	k.mu.Unlock()
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvKubeletRestart})
	k.sync()
}

func (k *kubelet) startedAt() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.started
}

// sync compares the manifests on disk with the running pods.
func (k *kubelet) sync() {
	want := k.readManifests()
	k.mu.Lock()
	defer k.mu.Unlock()
	for file, p := range k.pods {
		w, ok := want[file]
		if !ok && k.ignoreRm[p.name] {
			continue
		}
		if !ok || w.hash != p.hash {
			k.stopPod(p)
			delete(k.pods, file)
		}
	}
	for file, w := range want {
		if _, ok := k.pods[file]; !ok {
			k.pods[file] = w
			go k.supervise(w)
		}
	}
}

// readManifests parses every manifest the real kubelet would read (all
// non-hidden files). A manifest that does not parse is skipped, as the real
// kubelet does, and noted in the timeline.
func (k *kubelet) readManifests() map[string]*pod {
	dir := filepath.Join(k.n.root(), "etc/kubernetes/manifests")
	entries, _ := os.ReadDir(dir)
	out := map[string]*pod{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		p, err := podFrom(e.Name(), data)
		if err != nil {
			k.noteBad(e.Name(), err)
			continue
		}
		out[e.Name()] = p
	}
	return out
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
	p := &pod{file: file, name: sp.Name, image: c.Image, hash: sha256.Sum256(data), argv: argv,
		stop: make(chan struct{}), done: make(chan struct{})}
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
	k.mu.Lock()
	for _, u := range k.units {
		k.stopUnit(u)
	}
	pods := make([]*pod, 0, len(k.pods))
	for _, p := range k.pods {
		pods = append(pods, p)
		k.stopPod(p)
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
				ID: fmt.Sprintf("%x", p.hash[:6])})
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

// killSignal sends sig to the pod's process if it runs.
func (p *pod) killSignal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pid != 0 {
		_ = syscall.Kill(p.pid, sig)
	}
}
