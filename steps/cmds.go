package steps

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// Scripts are fixed text; every value reaches them as a positional
// parameter ($1...), quoted by nodes.Cmd, never pasted in.
const (
	// moveScript moves $1/$3 to $2/$3. Already moved is success; an
	// existing different file at the destination is never overwritten.
	moveScript = `set -e; src="$1/$3"; dst="$2/$3"
if [ -e "$dst" ]; then
  if [ ! -e "$src" ]; then echo "already in place: $dst"; exit 0; fi
  if cmp -s -- "$src" "$dst"; then rm -f -- "$src"; echo "already in place: $dst (identical copy removed from $1)"; exit 0; fi
  echo "refusing: $dst exists and differs from $src; compare them and move one aside by hand" >&2; exit 3
fi
if [ ! -e "$src" ]; then echo "neither $src nor $dst exists: was it moved by hand?" >&2; exit 4; fi
mkdir -p -m 0700 -- "$2"; mv -- "$src" "$dst"; echo "moved $src -> $dst"`

	// restoreScript runs "$@" (etcdutl snapshot restore of the snapshot
	// $3) into the fresh dir $1 for run $2. An existing dir is only
	// accepted as this run's finished restore; this run's interrupted one
	// (its marker "$1.etcd-dr" says "started $2": this run made it) is
	// removed, and the free disk checked again for the retry ($5 bytes);
	// anything else is refused and left alone. Right before etcdutl reads
	// the snapshot, in this same command, its sha256 must still be $4, the
	// one verified in preflight: gates can stay open for hours, and a backup
	// job may rewrite the file meanwhile (exit 5, and nothing written).
	restoreScript = `set -e; new="$1"; mark="$1.etcd-dr"; run="$2"; snap="$3"; want="$4"; need="$5"; shift 5
if [ -e "$new" ]; then
  state=$(cat -- "$mark" 2>/dev/null || true)
  if [ "$state" = "done $run" ]; then echo "already restored by run $run: $new"; exit 0; fi
  if [ "$state" = "started $run" ]; then rm -rf -- "$new"; echo "removed this run's interrupted restore: $new"
    parent=$(dirname -- "$new"); avail=$(df -Pk -- "$parent" | awk 'NR==2 {print $4}')
    if [ "$((avail * 1024))" -lt "$need" ]; then
      echo "etcd-dr: not enough free disk for the retry: $((avail * 1024)) bytes free under $parent, need $need" >&2; exit 6; fi
  else echo "refusing: $new already exists and is not this run's restore; never overwriting a data dir: set etcd.restoredDataDir to a new path" >&2; exit 3; fi
fi
got=$(sha256sum -- "$snap") || { echo "etcd-dr: snapshot changed: $snap cannot be read" >&2; exit 5; }
got=${got%% *}
if [ "$got" != "$want" ]; then echo "etcd-dr: snapshot changed: $snap has sha256 $got, expected $want" >&2; exit 5; fi
printf 'started %s\n' "$run" >"$mark"
"$@"
printf 'done %s\n' "$run" >"$mark"`

	// writeScript replaces $1 atomically with stdin, first keeping the
	// original as $2 (never overwriting an existing backup). A rename is
	// atomic but not durable: after a power loss the new name can point at
	// a file whose data never reached the disk (an empty manifest: etcd
	// gone, and the backup with it). So the new file and the backup are
	// fsynced before the rename, and the directory after it. `sync FILE`
	// and `sync DIR` fsync exactly those (coreutils ≥ 8.24, busybox);
	// older coreutils ignore the operands and sync everything, as durable.
	// The file's sync fails the step while nothing is changed yet; the
	// directory's, after the rename, only warns: the write did happen.
	writeScript = `set -e; f="$1"; bak="$2"; tmp="$1.etcd-dr-tmp"; dir=$(dirname -- "$f")
[ -e "$bak" ] || cp -p -- "$f" "$bak"
umask 077; cat >"$tmp"; chmod --reference="$f" -- "$tmp"; sync -- "$tmp" "$bak"
mv -- "$tmp" "$f"; sync -- "$dir" || echo "etcd-dr: could not sync $dir: the new $f may not survive a power loss" >&2
echo "wrote $f (original kept as $bak)"`
)

func sudo(c *config.Cluster, args ...string) nodes.Cmd {
	return nodes.Cmd{Args: args, Sudo: c.SSH.Sudo}
}

// shCmd runs script with sh -c under sudo; args are its $1...
func shCmd(c *config.Cluster, script string, args ...string) nodes.Cmd {
	return nodes.Cmd{Args: append([]string{"sh", "-c", script, "etcd-dr"}, args...), Sudo: c.SSH.Sudo}
}

func parkAction(c *Context, node, file string) Action {
	return Action{Node: node, What: "park " + file + " so the kubelet stops its static pod",
		Cmd:     shCmd(c.Cluster, moveScript, c.Cluster.Etcd.ManifestsDir, c.Cluster.Etcd.ParkDir, file),
		Changes: moveChange(path.Join(c.Cluster.Etcd.ManifestsDir, file), path.Join(c.Cluster.Etcd.ParkDir, file))}
}

func unparkAction(c *Context, node, file string) Action {
	return Action{Node: node, What: "unpark " + file + " so the kubelet starts its static pod again",
		Cmd:     shCmd(c.Cluster, moveScript, c.Cluster.Etcd.ParkDir, c.Cluster.Etcd.ManifestsDir, file),
		Changes: moveChange(path.Join(c.Cluster.Etcd.ParkDir, file), path.Join(c.Cluster.Etcd.ManifestsDir, file))}
}

func catAction(c *Context, node, file string) Action {
	return Action{Node: node, What: "read " + file, ReadOnly: true, Cmd: sudo(c.Cluster, "cat", "--", file)}
}

// writeAction replaces file with data, keeping the original as a backup
// named after the run, in the same directory.
func writeAction(c *Context, node, file string, data []byte) Action {
	cmd := shCmd(c.Cluster, writeScript, file, file+".etcd-dr-backup-"+c.val(c.Values.Run, PhRun))
	cmd.Stdin = strings.NewReader(string(data))
	return Action{Node: node, What: "write " + path.Base(file) + " (atomically, original kept)", Cmd: cmd,
		Changes: &FileChange{Path: file, ReadFrom: []string{file}}}
}

// val returns v, or the placeholder when v is not decided yet.
func (c *Context) val(v, placeholder string) string {
	if v == "" {
		return placeholder
	}
	return v
}

func (c *Context) bumpArg() string {
	if c.Values.Bump == 0 {
		return PhBump
	}
	return strconv.FormatInt(c.Values.Bump, 10)
}

// pgrepArgs finds processes whose executable is name. `pgrep -x NAME`
// matches the kernel's process name, which is cut to 15 characters:
// "kube-controller-manager" is "kube-controller" there and never matches.
// So match the command line's first word instead, with or without a
// directory; anchoring at the start also keeps the sh and sudo wrappers of
// our own command out of the match. oldest adds -o (one pid).
func pgrepArgs(name string, oldest bool) []string {
	args := []string{"pgrep", "-f"}
	if oldest {
		args = append(args, "-o")
	}
	return append(args, "--", "^([^ ]*/)?"+regexp.QuoteMeta(name)+"( |$)")
}

// processGone checks that no process named name runs on node. Under sudo:
// a /proc mounted hidepid=2 hides other users' processes (etcd running as
// User=etcd, containers' uids) from an unprivileged pgrep, which would then
// open the gate while the process still runs.
func (c *Context) processGone(ctx context.Context, node, name string) error {
	res, err := c.Exec1(ctx, Action{Node: node, What: "look for " + name, ReadOnly: true, Cmd: sudo(c.Cluster, pgrepArgs(name, false)...),
		Accept: func(r nodes.Result) error {
			if r.ExitCode == 0 || r.ExitCode == 1 {
				return nil
			}
			return fmt.Errorf("pgrep exit %d", r.ExitCode)
		}})
	if err != nil {
		return err
	}
	pids := strings.Fields(res.Stdout)
	c.CheckFact(node, "no "+name+" process", len(pids) == 0, strings.Join(pids, " "),
		factIf(componentNamed(name), len(pids) == 0, CompDown, CompUp))
	if len(pids) > 0 {
		return &StillRunning{Node: node, Process: name, PIDs: pids}
	}
	return nil
}

// noListener checks that nothing listens on TCP port on node (ss -Hltn),
// the port of comp.
func (c *Context) noListener(ctx context.Context, node string, comp Component, port int, hosts []string) error {
	res, err := c.Exec1(ctx, Action{Node: node, ReadOnly: true, What: fmt.Sprintf("look for a listener on :%d", port),
		Cmd: nodes.Cmd{Args: []string{"ss", "-Hltn"}}})
	if err != nil {
		return err
	}
	addrs := listenersOn(res.Stdout, port, hosts)
	c.CheckFact(node, fmt.Sprintf("nothing listening on :%d", port), len(addrs) == 0, strings.Join(addrs, " "),
		factIf(comp, len(addrs) == 0, CompDown, CompUp))
	if len(addrs) > 0 {
		return fmt.Errorf("something still listens on %s", strings.Join(addrs, " "))
	}
	return nil
}

// listenersOn parses `ss -Hltn` output ("LISTEN 0 4096 127.0.0.1:6443 0.0.0.0:*")
// and returns the local addresses on port that the stopped process could
// have held: wildcard binds always, and specific addresses when hosts (the
// addresses it was configured to listen on) names them or is empty. Another
// process bound to another address of the machine on the same port is not
// it: several etcd members share one network namespace in the drill lab,
// and a host may run unrelated listeners on other addresses.
func listenersOn(out string, port int, hosts []string) []string {
	var addrs []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		host, p, err := net.SplitHostPort(f[3])
		if err != nil || p != strconv.Itoa(port) {
			continue
		}
		if len(hosts) == 0 || wildcard(host) || slices.Contains(hosts, strings.Trim(host, "[]")) {
			addrs = append(addrs, f[3])
		}
	}
	return addrs
}

func wildcard(host string) bool {
	switch strings.Trim(host, "[]") {
	case "*", "0.0.0.0", "::", "":
		return true
	}
	return false
}

// urlHosts returns the hosts of URLs ("https://10.0.0.1:2379" → "10.0.0.1").
// nil (every listener on the port counts) when a URL is a wildcard or
// cannot be read: unsure means looking wider, which can only keep a gate
// shut, never open it early.
func urlHosts(urls []string) []string {
	var out []string
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || pu.Hostname() == "" || wildcard(pu.Hostname()) {
			return nil
		}
		out = append(out, pu.Hostname())
	}
	return out
}

func urlPort(u string, def int) int {
	if i := strings.LastIndex(u, ":"); i >= 0 {
		if p, err := strconv.Atoi(strings.TrimRight(u[i+1:], "/")); err == nil {
			return p
		}
	}
	return def
}
