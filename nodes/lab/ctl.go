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

// shims are the node's stand-ins for tools a real node has; they live in the
// node's /usr/local/bin, first on PATH.
var shims = map[string]string{
	"sudo": `#!/bin/sh
# sudo for a drill lab node: commands already run as root in the node's user
# namespace; the engine always sends "sudo -n --", which must work.
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-E|-H) shift ;;
    --) shift; break ;;
    -*) echo "sudo (lab): unsupported option $1" >&2; exit 1 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: sudo -n -- command" >&2; exit 1; }
exec "$@"
`,
	"systemctl": ctlShim("systemctl"),
	"crictl":    ctlShim("crictl"),
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

// writeNodeBin fills the node's /usr/local/bin: shims and the lab binaries.
func writeNodeBin(binDir string, bins Binaries) error {
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(binDir, name), []byte(body), 0o755); err != nil {
			return fmt.Errorf("lab shim %s: %w", name, err)
		}
	}
	// Relative links into .labbin, where the node mounts the binary cache.
	for name, path := range bins.All() {
		dst := filepath.Join(binDir, name)
		_ = os.Remove(dst)
		if err := os.Symlink(filepath.Join(".labbin", filepath.Base(path)), dst); err != nil {
			return fmt.Errorf("lab binary %s: %w", name, err)
		}
	}
	return nil
}

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
	var verb, unit string
	var props []string
	valueOnly, noBlock := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--value":
			valueOnly = true
		case a == "--no-block":
			noBlock = true
		case a == "-p" && i+1 < len(args):
			i++
			props = append(props, strings.Split(args[i], ",")...)
		case strings.HasPrefix(a, "--property="):
			props = append(props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-"):
		case verb == "":
			verb = a
		case unit == "":
			unit = strings.TrimSuffix(a, ".service")
		}
	}
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
		return k.unitctl(u, verb, noBlock)
	}
	since := k.startedAt()
	stamp := since.UTC().Format("Mon 2006-01-02 15:04:05 MST")
	switch verb {
	case "restart", "start", "reload-or-restart", "try-restart":
		k.restart()
		return 0, ""
	case "is-active":
		return 0, "active\n"
	case "status":
		return 0, fmt.Sprintf("● kubelet.service - kubelet: The Kubernetes Node Agent (drill lab)\n"+
			"     Active: active (running) since %s\n   Main PID: %d (kubelet)\n", stamp, os.Getpid())
	case "show":
		// systemd gives every start of a unit a new InvocationID; the
		// runbook compares it before and after `systemctl restart`.
		inv := sha256.Sum256([]byte(k.n.spec.Name + "/" + since.UTC().Format(time.RFC3339Nano)))
		all := map[string]string{"ActiveState": "active", "SubState": "running",
			"ActiveEnterTimestamp": stamp, "ExecMainStartTimestamp": stamp,
			"ActiveEnterTimestampMonotonic": "0", "MainPID": fmt.Sprint(os.Getpid()), "Id": "kubelet.service",
			"InvocationID": fmt.Sprintf("%x", inv[:16])}
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
