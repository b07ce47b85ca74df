package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// unresolvableNode is the node whose hostname the lab leaves out of its
// /etc/hosts, as on a cloud VM renamed after its image was built: real
// sudo then prints "sudo: unable to resolve host cp-1: Name or service not
// known" to stderr before every command it runs (sudoers' set_fqdn /
// getaddrinfo on the host name). Every other node maps its name to
// 127.0.1.1, as Debian's installer does, and its sudo is quiet.
const unresolvableNode = "cp-1"

// sudoResolveWarning is the sudo shim's first act, before its option
// checks and its command lookup, as real sudo's policy init comes first.
// The lab resolves through /etc/hosts only (nodes have no DNS for their
// names); a real node's nsswitch may also ask DNS, which says the same.
const sudoResolveWarning = `h=$(hostname)
awk -v h="$h" '{ sub(/#.*/, "") } { for (i = 2; i <= NF; i++) if ($i == h) f = 1 } END { exit !f }' /etc/hosts 2>/dev/null ||
  echo "sudo: unable to resolve host $h: Name or service not known" >&2
`

// writeEtcHosts gives the node its own /etc/hosts: the host's, plus the
// node's name unless it is unresolvableNode.
func writeEtcHosts(etcDir, name string) error {
	base, err := os.ReadFile("/etc/hosts")
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("node %s: /etc/hosts: %w", name, err)
	}
	s := string(base)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if name != unresolvableNode {
		s += "127.0.1.1\t" + name + "\n"
	}
	return os.WriteFile(filepath.Join(etcDir, "hosts"), []byte(s), 0o644)
}
