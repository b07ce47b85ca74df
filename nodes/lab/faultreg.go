package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Fault is one knob a game day injects by name (`etcd-dr drill --fault`).
// Inject breaks node (Node when the operator names none) on the running
// lab and returns how to lift it (nil: it cannot be lifted, e.g. a changed
// host key, which the operator must handle as on a real node).
type Fault struct {
	Name   string
	Help   string // one line for `--fault list`
	Node   string // default target
	Inject func(ctx context.Context, l *Lab, node string) (lift func() error, err error)
}

// Faults is the registry: add a knob with one line here.
func Faults() []Fault {
	return []Fault{
		{"sshd-frozen", "the node's sshd stops answering, as behind a dead link (lifted after the step fails)", "cp-2", injectSSHFrozen},
		{"sshd-stopped", "the node's sshd is gone: connections refused (restarted after the step fails)", "cp-2", injectSSHStopped},
		{"apiserver-wont-stop", "the node's kubelet keeps kube-apiserver running after its manifest is parked", "cp-2", injectApiserverStays},
		{"restore-hangs", "etcdutl snapshot restore on the node never returns", "cp-2", injectRestoreHangs},
		{"sudo-password", "sudo on the node wants a password (sudo -n fails)", "cp-2", injectSudoPassword},
		{"kubelet-sources-not-ready", "the node's kubelet skips pod deletes, as one started without an apiserver", "cp-2", injectSourcesNotReady},
		{"disk-full", "the node's /var/lib is a full 64 KiB filesystem (ENOSPC on restore)", "cp-2", injectDiskFull},
		{"host-key-changed", "the node's sshd offers a host key known_hosts does not hold (reinstalled, or an attacker)", "cp-2", injectHostKeyChanged},
		{FaultEncryptionKeyRotated, "the encryption-at-rest key is rotated after the snapshot and the old one dropped (readiness stops before step 1)", "", injectReadiness(FaultEncryptionKeyRotated)},
		{FaultCAReplaced, "the cluster CA is rotated after the snapshot, serving certificates reissued (readiness stops before step 1)", "", injectReadiness(FaultCAReplaced)},
		{FaultNewerEtcdSnapshot, "the snapshot claims a newer etcd storage version than the members run (refused before step 1)", "", injectReadiness(FaultNewerEtcdSnapshot)},
		{"kubelet-down", "the node's kubelet does not come back from step 5's restart (named at the verify gate)", "w-1", injectKubeletDown},
		{FaultMajorityLost, "every etcd member but the node loses its data dir and crash-loops: no quorum, no apiserver; the writes after snapshot.db live only on the node (drill --snapshot-from best-member)", "cp-2", injectMajorityLost},
		{"no-pgrep-under-sudo", "sudo on the node does not find pgrep (procps missing, or outside secure_path); the login's PATH still does", "cp-2", injectToolMissing("pgrep")},
		{"no-systemctl-under-sudo", "sudo on the node does not find systemctl (outside secure_path); the login's PATH still does", "w-1", injectToolMissing("systemctl")},
		{"no-ss-on-login-path", "the login's PATH on the node has no ss (iproute2 not installed, or ss outside that PATH); sudo's secure_path still does", "cp-2", injectLoginToolMissing("ss")},
		{"no-timeout-under-sudo", "sudo on the node does not find timeout (coreutils' timeout outside secure_path); the login's PATH still does", "w-1", injectToolMissing("timeout")},
	}
}

// FaultByName finds a registered fault.
func FaultByName(name string) (Fault, bool) {
	for _, f := range Faults() {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

func injectSSHFrozen(_ context.Context, l *Lab, node string) (func() error, error) {
	return func() error { return l.ResumeSSH(node) }, l.PauseSSH(node)
}

func injectSSHStopped(_ context.Context, l *Lab, node string) (func() error, error) {
	return func() error { return l.RestartSSH(node) }, l.StopSSH(node)
}

func injectApiserverStays(_ context.Context, l *Lab, node string) (func() error, error) {
	return func() error { return l.IgnoreManifestRemoval(node, "kube-apiserver", false) },
		l.IgnoreManifestRemoval(node, "kube-apiserver", true)
}

func injectRestoreHangs(_ context.Context, l *Lab, node string) (func() error, error) {
	return nil, l.HangCommands(node, `etcdutl.*snapshot restore`)
}

func injectSudoPassword(_ context.Context, l *Lab, node string) (func() error, error) {
	return func() error { return l.RequireSudoPassword(node, false) }, l.RequireSudoPassword(node, true)
}

func injectSourcesNotReady(_ context.Context, l *Lab, node string) (func() error, error) {
	return func() error { return l.KubeletSourcesNotReady(node, false) }, l.KubeletSourcesNotReady(node, true)
}

func injectDiskFull(ctx context.Context, l *Lab, node string) (func() error, error) {
	return nil, l.FillDisk(ctx, node, "/var/lib", 64<<10)
}

func injectHostKeyChanged(_ context.Context, l *Lab, node string) (func() error, error) {
	_, err := l.ChangeHostKey(node)
	return nil, err
}

// faultServer lets the drill's process inject and lift faults in the lab
// daemon's process, which owns the knobs.
type faultServer struct {
	l     *Lab
	mu    sync.Mutex
	lifts map[string]func() error // name@node → lift
}

func faultSocket(dir string) string { return ctlSocketName(dir, "faults") }

func serveFaults(ctx context.Context, l *Lab) (func(), error) {
	ln, err := net.Listen("unix", "@"+faultSocket(l.opts.Dir))
	if err != nil {
		return nil, fmt.Errorf("lab: fault socket: %w", err)
	}
	fs := &faultServer{l: l, lifts: map[string]func() error{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/inject", func(w http.ResponseWriter, r *http.Request) {
		reply(w, fs.inject(r.Context(), r.URL.Query().Get("name"), r.URL.Query().Get("node")))
	})
	mux.HandleFunc("/lift", func(w http.ResponseWriter, r *http.Request) {
		reply(w, fs.lift(r.URL.Query().Get("name"), r.URL.Query().Get("node")))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

func reply(w http.ResponseWriter, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (fs *faultServer) inject(ctx context.Context, name, node string) error {
	f, ok := FaultByName(name)
	if !ok {
		return fmt.Errorf("no fault %q (etcd-dr drill --fault list)", name)
	}
	if node == "" {
		node = f.Node
	}
	if err := fs.l.realFaultMade(name); err != nil { // realtier.go
		return err
	}
	lift, err := f.Inject(ctx, fs.l, node)
	if err != nil {
		return fmt.Errorf("inject %s on %s: %w", name, node, err)
	}
	fs.mu.Lock()
	fs.lifts[name+"@"+node] = lift
	fs.mu.Unlock()
	return nil
}

func (fs *faultServer) lift(name, node string) error {
	if f, ok := FaultByName(name); ok && node == "" {
		node = f.Node
	}
	fs.mu.Lock()
	lift, ok := fs.lifts[name+"@"+node]
	delete(fs.lifts, name+"@"+node)
	fs.mu.Unlock()
	if !ok {
		return fmt.Errorf("fault %s on %s is not injected", name, node)
	}
	if lift == nil {
		return errCannotLift
	}
	return lift()
}

var errCannotLift = errors.New("this fault cannot be lifted: handle it as on a real node")

// InjectFault injects a registered fault in the lab daemon serving dir
// (node "" = the fault's default node).
func InjectFault(ctx context.Context, dir, name, node string) error {
	return faultCall(ctx, dir, "inject", name, node)
}

// LiftFault undoes InjectFault where the fault can be undone.
func LiftFault(ctx context.Context, dir, name, node string) error {
	return faultCall(ctx, dir, "lift", name, node)
}

func faultCall(ctx context.Context, dir, verb, name, node string) error {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", "@"+faultSocket(dir))
	}}, Timeout: time.Minute}
	defer c.CloseIdleConnections()
	u := "http://lab/" + verb + "?" + url.Values{"name": {name}, "node": {node}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("lab fault %s %s: the lab daemon does not answer: %w", verb, name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return errors.New(strings.TrimSpace(string(body)))
	}
	return nil
}

// injectReadiness applies a cluster-wide readiness fault (faults_readiness.go);
// the node is ignored and nothing lifts it: the operator overrides the check
// by name or stops, as on a real cluster.
func injectReadiness(name string) func(context.Context, *Lab, string) (func() error, error) {
	return func(ctx context.Context, l *Lab, _ string) (func() error, error) {
		return nil, l.ReadinessFault(ctx, name)
	}
}

func injectKubeletDown(_ context.Context, l *Lab, node string) (func() error, error) {
	return nil, l.KubeletDown(node)
}
