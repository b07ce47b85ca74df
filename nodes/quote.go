package nodes

import (
	"strconv"
	"strings"
	"time"
)

// Quote returns s as one POSIX shell word: wrapped in single quotes, with
// each single quote written as '\”. Inside single quotes the shell expands
// nothing ($, `, \, ;, newlines are data), so a hostile node name or path can
// never run anything.
func Quote(s string) string {
	if s != "" && strings.Trim(s, safeChars) == "" {
		return s // readable plans: /etc/kubernetes/manifests needs no quotes
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// safeChars never need quoting in any position of a POSIX shell word.
const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_"

// Line is the exact shell line sent to the node: Args quoted one by one (or
// Script as is), prefixed with "sudo -n --" when Sudo is set.
func (c Cmd) Line() string {
	var body string
	if c.Script != "" {
		body = c.Script
		if c.Sudo {
			// sudo runs one program; the script needs its own shell.
			return "sudo -n -- sh -c " + Quote(c.Script)
		}
		return body
	}
	words := make([]string, len(c.Args))
	for i, a := range c.Args {
		words[i] = Quote(a)
	}
	body = strings.Join(words, " ")
	if c.Sudo {
		return "sudo -n -- " + body
	}
	return body
}

// String is the command as shown to operators (plans, gates, transcripts):
// the exact line sent, with every Redact substring replaced by "<redacted>".
func (c Cmd) String() string {
	s := c.Line()
	for _, r := range c.Redact {
		if r != "" {
			// The quoted form first: a secret holding a quote appears
			// only quoted in the line.
			s = strings.ReplaceAll(s, Quote(r), "<redacted>")
			s = strings.ReplaceAll(s, r, "<redacted>")
		}
	}
	return s
}

// remoteKillAfter is how long the node's own timeout waits after SIGTERM
// before SIGKILL.
const remoteKillAfter = "5"

// wrap is the line actually sent for cmd: Line() guarded so the command
// ends on the node even when etcd-dr cannot reach it any more.
//
//   - `timeout -k 5 DEADLINE` (coreutils, run as root under sudo) kills the
//     command's whole process group at the deadline, from the node itself:
//     a dead connection or an sshd that refuses "signal" requests (OpenSSH
//     refuses them for root logins) cannot leave it running forever.
//   - A stderr line "etcd-dr-pid NONCE N" names that process group, so on
//     timeout or cancel the Runner can `kill -TERM -- -N` through a second
//     session (as root via sudo when the command used sudo: a login user's
//     "signal" cannot reach root's processes). It need not be the first
//     line: sudo prints warnings before it runs anything ("sudo: unable to
//     resolve host X", common on cloud VMs), and so can a login shell. The
//     nonce is fresh for every command, so nothing printed before the line
//     can pass for it; once found, later output is not searched.
//
// The Runner strips the pid line from the output; plans show Line().
func wrap(cmd Cmd, deadline time.Duration, nonce string) string {
	secs := strconv.FormatFloat(deadline.Seconds(), 'f', -1, 64)
	var inner string
	if cmd.Script != "" {
		inner = "sh -c " + Quote(cmd.Script)
	} else {
		words := make([]string, len(cmd.Args))
		for i, a := range cmd.Args {
			words[i] = Quote(a)
		}
		inner = strings.Join(words, " ")
	}
	guard := `echo "` + pidMarker + nonce + ` $$" >&2; exec timeout -k ` + remoteKillAfter + " " + secs + " "
	if !cmd.Sudo {
		return guard + inner
	}
	return "exec sudo -n -- sh -c " + Quote(guard+`"$@"`) + " sh " + inner
}
