package lab

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// etcdEnvFile is where systemd-mode etcd reads its configuration (kubespray).
const etcdEnvFile = "/etc/etcd.env"

// unit is a systemd service the lab plays on a node: etcd in systemd mode
// (EnvironmentFile=/etc/etcd.env, ExecStart=etcd, Restart=always). Like
// systemd, it rereads the env file only on start/restart.
type unit struct {
	name    string
	envFile string
	p       *pod // nil when inactive
	since   time.Time
}

// addUnit registers an enabled unit and starts it, as at boot.
func (k *kubelet) addUnit(name, envFile string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	u := &unit{name: name, envFile: envFile}
	k.units[name] = u
	return k.startUnit(u)
}

// startUnit starts u's process; k.mu is held.
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
	u.p = &pod{file: u.envFile, name: u.name, hash: sha256.Sum256(data), argv: []string{u.execStart()},
		env: env, dataDir: m.HostDataDir, stop: make(chan struct{}), done: make(chan struct{})}
	u.since = time.Now()
	go k.supervise(u.p)
	return nil
}

// stopUnit stops u and waits for its process to exit; k.mu is held.
func (k *kubelet) stopUnit(u *unit) {
	if u.p == nil {
		return
	}
	k.stopPod(u.p)
	<-u.p.done
	u.p = nil
}

// unitctl answers systemctl for a lab unit.
func (k *kubelet) unitctl(u *unit, verb string, props []string, valueOnly bool) (int, string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch verb {
	case "start":
		if err := k.startUnit(u); err != nil {
			return 1, fmt.Sprintf("Job for %s.service failed: %v\n", u.name, err)
		}
	case "stop":
		k.stopUnit(u)
	case "restart", "reload-or-restart", "try-restart":
		k.stopUnit(u)
		if err := k.startUnit(u); err != nil {
			return 1, fmt.Sprintf("Job for %s.service failed: %v\n", u.name, err)
		}
	case "is-active":
		if u.p == nil {
			return 3, "inactive\n"
		}
		return 0, "active\n"
	case "status", "show":
		state, code := "inactive (dead)", 3
		if u.p != nil {
			state, code = "active (running) since "+u.since.UTC().Format("Mon 2006-01-02 15:04:05 MST"), 0
		}
		if verb == "show" {
			return 0, u.show(strings.Fields(state)[0], props, valueOnly)
		}
		return code, fmt.Sprintf("● %s.service - %s (drill lab)\n     Active: %s\n", u.name, u.name, state)
	case "enable", "disable", "daemon-reload":
	default:
		return 1, fmt.Sprintf("systemctl (lab): %q on %s is not supported in the drill lab\n", verb, u.name)
	}
	return 0, ""
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

// show answers `systemctl show [-p P] [--value]` as systemd prints them.
func (u *unit) show(active string, props []string, valueOnly bool) string {
	exec := fmt.Sprintf("{ path=%s ; argv[]=%s ; ignore_errors=no ; start_time=[n/a] ; stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }",
		u.execStart(), u.execStart())
	all := map[string]string{"Id": u.name + ".service", "ActiveState": active, "ExecStart": exec}
	if len(props) == 0 {
		props = []string{"Id", "ActiveState"}
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
