package nodes

import "strings"

// sudoWarningPrefix starts the line real sudo prints to stderr, before the
// command runs, on a node whose own host name does not resolve (a cloud VM
// renamed after its image was built, its name missing from /etc/hosts):
// "sudo: unable to resolve host cp-1: Name or service not known". It says
// nothing about the command; the lab prints it on one node by default.
const sudoWarningPrefix = "sudo: unable to resolve host "

// StderrWithoutSudoWarnings is s without sudo's host-resolution warning
// lines: what the command itself said, for a one-line cause or a parser.
// The transcript keeps the full stream.
func StderrWithoutSudoWarnings(s string) string {
	if !strings.Contains(s, sudoWarningPrefix) {
		return s
	}
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), sudoWarningPrefix) {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}
