package lab

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// etcdEnvFile is where systemd-mode etcd reads its configuration (kubespray).
const etcdEnvFile = "/etc/etcd.env"

// unitStopTimeout is systemd's DefaultTimeoutStopSec: SIGTERM, then SIGKILL.
const unitStopTimeout = 90 * time.Second

// defaultUnitStartTimeout is systemd's DefaultTimeoutStartSec.
const defaultUnitStartTimeout = 90 * time.Second

// unit is a systemd service the lab plays on a node: etcd in systemd mode as
// kubespray installs it (EnvironmentFile=/etc/etcd.env, ExecStart=etcd,
// Type=notify, Restart=always). Like systemd, it rereads the env file only
// on start/restart. Type=notify: the start job ends when the process sends
// READY=1 on $NOTIFY_SOCKET — etcd does so only once it serves clients,
// which needs a quorum — or fails after the start timeout, killing it.
type unit struct {
	name         string
	user         string // User=; "" runs as root
	envFile      string
	startTimeout time.Duration
	p            *pod // nil when inactive or failed
	since        time.Time
	state        string        // active, activating, inactive, failed
	result       string        // success, timeout, exit-code
	job          chan struct{} // closed when the running start job ends
}

// addUnit registers an enabled unit and starts it, as at boot: systemd
// starts every enabled unit at once, waiting on none.
func (k *kubelet) addUnit(name, envFile, user string, startTimeout time.Duration) error {
	if startTimeout <= 0 {
		startTimeout = defaultUnitStartTimeout
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	u := &unit{name: name, user: user, envFile: envFile, startTimeout: startTimeout, state: "inactive"}
	k.units[name] = u
	return k.startUnit(u)
}

// startUnit starts u's process and its start job; k.mu is held.
func (k *kubelet) startUnit(u *unit) error {
	if u.p != nil {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(k.n.root(), u.envFile))
	if err != nil {
		return fmt.Errorf("%s.service: %s: %w", u.name, u.envFile, err)
	}
	m, err := manifest.ParseEtcdEnv(data)
	if err != nil {
		return fmt.Errorf("%s.service: %s: %w", u.name, u.envFile, err)
	}
	env, err := envFileVars(data)
	if err != nil {
		return fmt.Errorf("%s.service: %s: %w", u.name, u.envFile, err)
	}
	argv, err := u.argv(k.n.root())
	if err != nil {
		u.state, u.result = "failed", "exit-code"
		return fmt.Errorf("%s.service: %w", u.name, err)
	}
	sum := sha256.Sum256(data)
	dirSum := sha256.Sum256([]byte(k.n.dir)) // a unix socket name has 107 bytes at most
	sock := fmt.Sprintf("@etcd-dr-lab/%x/%s-notify-%d", dirSum[:6], u.name, time.Now().UnixNano())
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("%s.service: notify socket: %w", u.name, err)
	}
	p := &pod{file: u.envFile, name: u.name, uid: fmt.Sprintf("%x", sum[:16]), argv: argv,
		grace: unitStopTimeout, env: append(env, "NOTIFY_SOCKET="+sock), dataDir: m.HostDataDir,
		stop: make(chan struct{}), done: make(chan struct{})}
	u.p, u.since, u.state, u.result, u.job = p, time.Now(), "activating", "", make(chan struct{})
	go k.superviseUnit(u, p)
	go k.startJob(u, p, ln, u.job)
	return nil
}

// startJob waits for READY=1 from p, or the start timeout, when it stops
// p and leaves u failed, as systemd does with a Type=notify unit.
func (k *kubelet) startJob(u *unit, p *pod, ln *net.UnixConn, job chan struct{}) {
	defer close(job)
	ready := make(chan struct{})
	go func() {
		defer ln.Close()
		buf := make([]byte, 4096)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains("\n"+string(buf[:n])+"\n", "\nREADY=1\n") {
				close(ready)
				<-p.done
				return
			}
		}
	}()
	timer := time.NewTimer(u.startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		k.mu.Lock()
		if u.p == p {
			u.state, u.result, u.since = "active", "success", time.Now()
		}
		k.mu.Unlock()
	case <-p.stop: // stopped before it was ready
		_ = ln.Close()
	case <-p.done: // exited before it was ready: superviseUnit restarts it
		_ = ln.Close()
		k.mu.Lock()
		if u.p == p {
			u.result = "exit-code"
		}
		k.mu.Unlock()
	case <-timer.C:
		_ = ln.Close()
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "unit-timeout", Pod: u.name,
			Detail: fmt.Sprintf("%s.service: start operation timed out after %s; terminating", u.name, u.startTimeout)})
		k.mu.Lock()
		if u.p == p {
			k.stopPod(p)
			u.p, u.state, u.result = nil, "failed", "timeout"
		}
		k.mu.Unlock()
		<-p.done
	}
}

// unitRestartDelay is kubespray's etcd unit's RestartSec (Restart=always).
const unitRestartDelay = 10 * time.Second

// superviseUnit runs p's process once. When it exits on its own, systemd's
// Restart=always applies: the unit is "activating" (auto-restart) for
// RestartSec, then ExecStart runs again as a new start job, "activating"
// until the new process sends READY=1 again or its start timeout ends it.
func (k *kubelet) superviseUnit(u *unit, p *pod) {
	exit, err := k.runOnce(p)
	close(p.done)
	select {
	case <-p.stop:
		return
	default:
	}
	detail := fmt.Sprintf("%s.service: main process exited, code %d; scheduling restart in %s", u.name, exit, unitRestartDelay)
	if err != nil {
		detail = fmt.Sprintf("%s.service: %v; scheduling restart in %s", u.name, err, unitRestartDelay)
	}
	k.tl.add(Event{Node: k.n.spec.Name, Kind: "unit-exit", Pod: u.name, Detail: detail})
	k.mu.Lock()
	if u.p == p {
		u.state, u.result, u.since = "activating", "exit-code", time.Now()
	}
	k.mu.Unlock()
	select {
	case <-p.stop: // stopped or restarted by hand meanwhile
		return
	case <-time.After(unitRestartDelay):
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if u.p != p {
		return
	}
	u.p = nil
	if err := k.startUnit(u); err != nil {
		k.tl.add(Event{Node: k.n.spec.Name, Kind: "unit-exit", Pod: u.name, Detail: err.Error()})
	}
}

// stopUnit stops u and waits for its process to exit; k.mu is held.
func (k *kubelet) stopUnit(u *unit) {
	if u.p == nil {
		return
	}
	k.stopPod(u.p)
	<-u.p.done
	u.p, u.state = nil, "inactive"
}

// unitctl answers systemctl for a lab unit. A start without --no-block
// waits for the start job, as systemctl does.
func (k *kubelet) unitctl(u *unit, verb string, noBlock bool, props []string, valueOnly bool) (int, string) {
	k.mu.Lock()
	var job chan struct{}
	switch verb {
	case "start", "restart", "reload-or-restart", "try-restart":
		if verb != "start" {
			k.stopUnit(u)
		}
		if err := k.startUnit(u); err != nil {
			k.mu.Unlock()
			return 1, fmt.Sprintf("Job for %s.service failed: %v\n", u.name, err)
		}
		job = u.job
	}
	k.mu.Unlock()
	if job != nil {
		if noBlock {
			return 0, ""
		}
		<-job
		k.mu.Lock()
		defer k.mu.Unlock()
		if u.state != "failed" && u.result == "exit-code" {
			return 1, fmt.Sprintf("Job for %[1]s.service failed because the control process exited with error code.\n"+
				"See \"systemctl status %[1]s.service\" and \"journalctl -xeu %[1]s.service\" for details.\n", u.name)
		}
		if u.state == "failed" {
			return 1, fmt.Sprintf("Job for %[1]s.service failed because a timeout was exceeded.\n"+
				"See \"systemctl status %[1]s.service\" and \"journalctl -xeu %[1]s.service\" for details.\n", u.name)
		}
		return 0, ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unitQuery(u, verb, props, valueOnly)
}

// unitQuery answers the read-only verbs and stop; k.mu is held.
func (k *kubelet) unitQuery(u *unit, verb string, props []string, valueOnly bool) (int, string) {
	switch verb {
	case "stop":
		k.stopUnit(u)
	case "is-active":
		if u.state == "active" {
			return 0, "active\n"
		}
		return 3, u.state + "\n"
	case "is-failed":
		if u.state == "failed" {
			return 0, "failed\n"
		}
		return 1, u.state + "\n"
	case "status", "show":
		return k.unitStatus(u, verb, props, valueOnly)
	case "enable", "disable", "daemon-reload":
	default:
		return 1, fmt.Sprintf("systemctl (lab): %q on %s is not supported in the drill lab\n", verb, u.name)
	}
	return 0, ""
}

func (k *kubelet) unitStatus(u *unit, verb string, props []string, valueOnly bool) (int, string) {
	stamp := u.since.UTC().Format("Mon 2006-01-02 15:04:05 MST")
	state, code := u.state+" (dead)", 3
	switch u.state {
	case "active":
		state, code = "active (running) since "+stamp, 0
	case "activating":
		state, code = "activating (start) since "+stamp, 3
		if u.result == "exit-code" {
			state = "activating (auto-restart) (Result: exit-code) since " + stamp
		}
	case "failed":
		state = "failed (Result: " + u.result + ") since " + stamp
	}
	if verb == "show" {
		return 0, u.show(props, valueOnly)
	}
	return code, fmt.Sprintf("● %s.service - %s (drill lab, Type=notify)\n     Active: %s\n", u.name, u.name, state)
}

// envFileVars turns the env file into NAME=value pairs for the process.
// manifest.ParseEtcdEnv has already refused forms systemd would read
// differently, so plain KEY=VALUE with optional whole-value quotes is all
// that remains.
func envFileVars(data []byte) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, strings.TrimSpace(k)+"="+v)
	}
	return out, sc.Err()
}

// execStart is the binary the unit starts (kubespray: ExecStart=/usr/local/bin/etcd).
func (u *unit) execStart() string { return "/usr/local/bin/" + u.name }

// argv is what the unit runs: ExecStart, with User= applied as systemd
// applies it — the user resolved on the node when the unit starts, then
// its uid, primary gid and no supplementary groups of root's (setpriv
// execs, so the process is etcd itself, as pgrep and /proc see it).
func (u *unit) argv(root string) ([]string, error) {
	if u.user == "" || u.user == "root" {
		return []string{u.execStart()}, nil
	}
	uid, gid, err := lookupUser(root, u.user)
	if err != nil {
		return nil, err
	}
	return []string{"setpriv", "--reuid=" + strconv.Itoa(uid), "--regid=" + strconv.Itoa(gid), "--clear-groups", "--",
		u.execStart()}, nil
}

// show answers `systemctl show [-p P] [--value]` as systemd prints them.
func (u *unit) show(props []string, valueOnly bool) string {
	exec := fmt.Sprintf("{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
		u.execStart(), u.execStart())
	// systemd prints an empty User= for a unit that sets none (root).
	all := map[string]string{"Id": u.name + ".service", "Type": "notify", "ActiveState": u.state, "Result": u.result, "ExecStart": exec,
		"User": u.user, "LoadState": "loaded", "EnvironmentFiles": u.envFile + " (ignore_errors=no)"}
	if len(props) == 0 {
		props = []string{"Id", "Type", "ActiveState", "Result"}
	}
	var b strings.Builder
	for _, p := range props {
		if valueOnly {
			fmt.Fprintln(&b, all[p])
		} else {
			fmt.Fprintf(&b, "%s=%s\n", p, all[p])
		}
	}
	return b.String()
}
