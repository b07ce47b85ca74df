package lab

import (
	"os"
	"path/filepath"
)

// ssShim is ss for a lab node. Lab nodes share the host's network
// namespace, so the real ss lists every lab node's sockets: each node's log
// pane filled with the others' etcd and apiserver listeners. The shim keeps
// what a real node would list, and never less:
//   - every socket a process of this node holds (ss -p resolves owners
//     through /proc, which is this node's own: its PID namespace);
//   - every socket whose local address is not another machine's: wildcard
//     (0.0.0.0, ::), 127.0.0.0/16 (127.0.0.1, 127.0.0.53) and this node's
//     own address stay even when another node or the host holds them.
//
// Only a socket no process of this node holds, on a loopback address of
// another lab node, lab load balancer or lab (127.B.x.y with B ≥ 1, not this
// node's), is left out: a real node has no such address. The owners column
// is shown only when the caller asked for it (-p), with this node's pids.
const ssShim = `#!/bin/sh
# ss for a drill lab node: the real ss, without the sockets of other lab
# nodes (they share this host's network namespace; a real node does not).
own=$(cat /run/lab/address 2>/dev/null)
wantp=
for a; do
  case "$a" in
    --processes) wantp=1 ;;
    --*) ;;
    -*p*) wantp=1 ;;
  esac
done
out=$(/usr/bin/ss -p "$@"); code=$?
[ -n "$out" ] && printf '%s\n' "$out" | awk -v own="$own" -v wantp="$wantp" '
{
  if (index($0, "users:((") == 0) {
    host = ""
    for (i = 1; i <= NF; i++) if ($i ~ /:([0-9]+|\*)$/) { host = $i; break }
    sub(/:[^:]*$/, "", host); sub(/%.*$/, "", host); gsub(/[][]/, "", host); sub(/^::ffff:/, "", host)
    if (host ~ /^127\.[0-9]+\.[0-9]+\.[0-9]+$/ && host !~ /^127\.0\./ && host != own) next
  }
  if (!wantp) sub(/[ \t]+users:\(\(.*$/, "")
  print
}'
exit $code
`

// writeNodeAddress tells the node's ss shim which address is its own.
func writeNodeAddress(nodeDir, addr string) error {
	return os.WriteFile(filepath.Join(nodeDir, "ctl", "address"), []byte(addr+"\n"), 0o644)
}
