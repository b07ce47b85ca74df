package lab

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// Each node's systemctl and crictl shims reach the lab daemon over an
// abstract unix socket (no path-length limit, nothing to clean up; nodes
// share the host's network namespace so they can reach it).
func ctlSocketName(labDir, nodeName string) string {
	sum := sha256.Sum256([]byte(labDir))
	return fmt.Sprintf("etcd-dr-lab/%x/%s", sum[:6], nodeName)
}

// Where a node's shims live. sudo is in the node's /usr/local/bin, first
// on the login PATH; systemctl and crictl stand in for /usr/bin's, so they
// live in /run/lab/sbin, which comes first on the login PATH and on sudo's
// secure_path alike (a real node finds both there).
const sysShimDir = "/run/lab/sbin"

// RHEL's sudoers: "Defaults secure_path = /sbin:/bin:/usr/sbin:/usr/bin"
// and env_reset. Debian's secure_path keeps /usr/local/sbin:/usr/local/bin.
const (
	secureRHEL   = sysShimDir + ":/sbin:/bin:/usr/sbin:/usr/bin"
	secureDebian = sysShimDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// sudoShim is sudo for a lab node: commands already run as root in the
// node's user namespace; the engine always sends "sudo -n --", which must
// work. Like real sudo it looks the command up on secure_path only (a tool
// in /usr/local/bin is "command not found" on RHEL) and runs it with the
// environment reset. On a node whose name does not resolve it warns first.
func sudoShim(securePath string) string {
	return `#!/bin/sh
# sudo for a drill lab node, as sudo with secure_path and env_reset.
secure_path=` + securePath + `
` + sudoResolveWarning + `while [ $# -gt 0 ]; do
  case "$1" in
    -n|-E|-H) shift ;;
    --) shift; break ;;
    -*) echo "sudo (lab): unsupported option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo -n -- command" >&2; exit 1; }
case "$1" in
  */*) ;;
  *) found=; IFS=:
     for d in $secure_path; do
       if [ -f "$d/$1" ] && [ -x "$d/$1" ]; then found="$d/$1"; break; fi
     done
     unset IFS
     [ -n "$found" ] || { echo "sudo: $1: command not found" >&2; exit 1; }
     shift; set -- "$found" "$@" ;;
esac
exec env -i PATH="$secure_path" HOME=/root USER=root LOGNAME=root SHELL=/bin/sh SUDO_USER=root SUDO_UID=0 SUDO_GID=0 "$@"
`
}

// shims are the node's stand-ins for tools a real node has.
var shims = map[string]string{
	"sudo":      sudoShim(secureRHEL),
	"systemctl": ctlShim("systemctl"),
	"crictl":    ctlShim("crictl"),
	"ss":        ssShim,
}

// ctlShim asks the lab daemon; the reply's first line is the exit code.
func ctlShim(tool string) string {
	return `#!/bin/sh
# ` + tool + ` for a drill lab node: the lab daemon plays systemd and the
# container runtime for the node's lab kubelet.
resp=$(curl -sS --abstract-unix-socket "$(cat /run/lab/socket)" --get --data-urlencode "args=$*" http://lab/` + tool + `) || {
  echo "` + tool + ` (lab): the lab daemon does not answer; is the lab up?" >&2; exit 1; }
code=$(printf '%s\n' "$resp" | head -n 1)
printf '%s\n' "$resp" | tail -n +2 | sed -e '${/^$/d;}'
exit "$code"
`
}

// writeNodeBin fills the node's /usr/local/bin (binDir) and /run/lab/sbin
// (sbinDir): shims, the Kubernetes binaries, and the etcd image dir
// (imageDir), where only the lab kubelet looks, as a real node's etcd,
// etcdctl and etcdutl live only inside the etcd image. hostTools adds
// etcdutl and etcdctl to /usr/local/bin (kubespray installs them there),
// systemdEtcd the etcd binary its unit starts (/usr/local/bin/etcd).
func writeNodeBin(binDir, sbinDir string, bins Binaries, hostTools, systemdEtcd bool) error {
	if err := os.MkdirAll(sbinDir, 0o755); err != nil {
		return err
	}
	for name, body := range shims {
		dir := sbinDir
		if name == "sudo" {
			dir = binDir
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return fmt.Errorf("lab shim %s: %w", name, err)
		}
	}
	links := map[string]string{} // name in binDir → path of the cached binary
	for name, p := range bins.Kube() {
		links[name] = p
	}
	img := filepath.Join(binDir, imageDir(bins.EtcdVersion))
	if err := os.MkdirAll(img, 0o755); err != nil {
		return err
	}
	for name, p := range bins.EtcdBins() {
		links[filepath.Join(imageDir(bins.EtcdVersion), name)] = p
		if (hostTools && name != "etcd") || (systemdEtcd && name == "etcd") {
			links[name] = p
		}
	}
	// Relative links into .labbin, where the node mounts the binary cache.
	for name, p := range links {
		dst := filepath.Join(binDir, name)
		rel, err := filepath.Rel(filepath.Dir(dst), filepath.Join(binDir, ".labbin", filepath.Base(p)))
		if err != nil {
			return err
		}
		_ = os.Remove(dst)
		if err := os.Symlink(rel, dst); err != nil {
			return fmt.Errorf("lab binary %s: %w", name, err)
		}
	}
	return nil
}

// imageDir is where, under the node's /usr/local/bin, the lab keeps the
// binaries of the etcd image of version v ("v3.6.6"): .images/etcd-3.6.6-0,
// named after the kubeadm image tag registry.k8s.io/etcd:3.6.6-0. A
// dot-dir is on no PATH: only the lab kubelet runs what is in it.
func imageDir(v string) string { return filepath.Join(".images", "etcd-"+etcdImageTag(v)) }

// etcdImageTag is kubeadm's tag for etcd v ("v3.6.6" → "3.6.6-0").
func etcdImageTag(v string) string { return strings.TrimPrefix(v, "v") + "-0" }

// serveCtl serves the node's shims until ctx ends.
func serveCtl(ctx context.Context, labDir string, k *kubelet) (func(), error) {
	name := ctlSocketName(labDir, k.n.spec.Name)
	if err := os.WriteFile(filepath.Join(k.n.dir, "ctl", "socket"), []byte(name), 0o644); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		return nil, fmt.Errorf("node %s: control socket: %w", k.n.spec.Name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/systemctl", func(w http.ResponseWriter, r *http.Request) {
		code, out := k.systemctl(strings.Fields(r.URL.Query().Get("args")))
		fmt.Fprintf(w, "%d\n%s", code, out)
	})
	mux.HandleFunc("/crictl", func(w http.ResponseWriter, r *http.Request) {
		code, out := k.crictl(strings.Fields(r.URL.Query().Get("args")))
		fmt.Fprintf(w, "%d\n%s", code, out)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			k.tl.add(Event{Node: k.n.spec.Name, Kind: "ctl-error", Detail: err.Error()})
		}
	}()
	return func() { _ = srv.Close(); <-done }, nil
}

// systemctl answers the subset of systemctl the runbook uses on the kubelet.
func (k *kubelet) systemctl(args []string) (int, string) {
	sc := parseSystemctl(args)
	verb, unit, props, valueOnly, noBlock := sc.verb, sc.unit, sc.props, sc.valueOnly, sc.noBlock
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvUnit, Command: "systemctl " + strings.Join(args, " ")})
	if verb == "daemon-reload" {
		return 0, ""
	}
	if unit != "kubelet" {
		k.mu.Lock()
		u := k.units[unit]
		k.mu.Unlock()
		if u == nil {
			return 4, fmt.Sprintf("Unit %s.service could not be found.\n", unit)
		}
		return k.unitctl(u, verb, noBlock, props, valueOnly)
	}
	since := k.startedAt()
	stamp := since.UTC().Format("Mon 2006-01-02 15:04:05 MST")
	// A kubelet held down (fault kubelet-down) crash-loops as kubeadm's
	// unit runs it (Restart=always, RestartSec=10): between its attempts
	// systemd reports the unit activating (auto-restart), Result=exit-code,
	// no main process, and `systemctl is-active` prints "activating" and
	// exits 3 (anything but active is not running) — never "active".
	down := k.heldDown()
	switch verb {
	case "restart", "start", "reload-or-restart", "try-restart":
		k.restart()
		return 0, ""
	case "is-active":
		if down {
			return 3, "activating\n"
		}
		return 0, "active\n"
	case "status":
		if down {
			return 3, fmt.Sprintf("● kubelet.service - kubelet: The Kubernetes Node Agent (drill lab)\n"+
				"     Active: activating (auto-restart) (Result: exit-code) since %s\n"+
				"   Main PID: %d (code=exited, status=1/FAILURE)\n", stamp, os.Getpid())
		}
		return 0, fmt.Sprintf("● kubelet.service - kubelet: The Kubernetes Node Agent (drill lab)\n"+
			"     Active: active (running) since %s\n   Main PID: %d (kubelet)\n", stamp, os.Getpid())
	case "show":
		// systemd gives every start of a unit a new InvocationID; the
		// runbook compares it before and after `systemctl restart`.
		inv := sha256.Sum256([]byte(k.n.spec.Name + "/" + since.UTC().Format(time.RFC3339Nano)))
		all := map[string]string{"ActiveState": "active", "SubState": "running", "Result": "success",
			"ActiveEnterTimestamp": stamp, "ExecMainStartTimestamp": stamp,
			"ActiveEnterTimestampMonotonic": "0", "MainPID": fmt.Sprint(os.Getpid()), "Id": "kubelet.service",
			"InvocationID": fmt.Sprintf("%x", inv[:16])}
		if down {
			all["ActiveState"], all["SubState"], all["Result"], all["MainPID"] = "activating", "auto-restart", "exit-code", "0"
		}
		if len(props) == 0 {
			props = []string{"Id", "ActiveState", "SubState", "MainPID", "ActiveEnterTimestamp", "ExecMainStartTimestamp", "InvocationID"}
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
	return 1, fmt.Sprintf("systemctl (lab): %q on kubelet is not supported in the drill lab\n", verb)
}

// crictl answers `crictl ps [-q] [--name NAME]` with the node's running pods.
func (k *kubelet) crictl(args []string) (int, string) {
	k.tl.add(Event{Node: k.n.spec.Name, Kind: EvUnit, Command: "crictl " + strings.Join(args, " ")})
	if len(args) == 0 || args[0] != "ps" {
		return 1, "crictl (lab): only `crictl ps` is supported in the drill lab\n"
	}
	quiet, name := false, ""
	for i := 1; i < len(args); i++ {
		switch {
		case args[i] == "-q" || args[i] == "--quiet":
			quiet = true
		case args[i] == "--name" && i+1 < len(args):
			i++
			name = args[i]
		case strings.HasPrefix(args[i], "--name="):
			name = strings.TrimPrefix(args[i], "--name=")
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD")
	}
	for _, p := range k.running() {
		if name != "" && !strings.Contains(p.Name, name) {
			continue
		}
		if quiet {
			fmt.Fprintln(tw, p.ID)
			continue
		}
		age := time.Since(p.Started).Round(time.Second)
		fmt.Fprintf(tw, "%s\t%s\t%s ago\tRunning\t%s\t%d\t%s\t%s-%s\n",
			p.ID, p.Name, age, p.Name, p.Attempt, p.ID, p.Name, k.n.spec.Name)
	}
	_ = tw.Flush()
	return 0, b.String()
}

// systemctlArgs is a systemctl command line as the lab's shims read it
// (both tiers): the verb, the unit without ".service", -p/--property
// names, --value and --no-block; other options are ignored.
type systemctlArgs struct {
	verb, unit         string
	props              []string
	valueOnly, noBlock bool
}

func parseSystemctl(args []string) systemctlArgs {
	var sc systemctlArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--value":
			sc.valueOnly = true
		case a == "--no-block":
			sc.noBlock = true
		case a == "-p" && i+1 < len(args):
			i++
			sc.props = append(sc.props, strings.Split(args[i], ",")...)
		case strings.HasPrefix(a, "--property="):
			sc.props = append(sc.props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-"):
		case sc.verb == "":
			sc.verb = a
		case sc.unit == "":
			sc.unit = strings.TrimSuffix(a, ".service")
		}
	}
	return sc
}
