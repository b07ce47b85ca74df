// Package nodes is the SSH transport: it dials nodes with strict host-key
// checking, runs commands with streamed output and real timeouts, and fans a
// command out to many nodes with bounded concurrency.
//
// A Runner keeps one *ssh.Client per node, dialed on first use (directly or
// through the jump host), checked against known_hosts (strict; accept-new
// only when asked, never for a changed key), kept alive with
// keepalive@openssh.com and redialed after it dies. Each command runs in
// its own session, wrapped (see wrap in quote.go) so that it ends on the
// node even when etcd-dr cannot reach it any more: coreutils timeout(1)
// kills its process group at a deadline, and on timeout or cancel the
// Runner sends SIGTERM then SIGKILL both as "signal" requests and as
// kill(1) on the process group through a second session (OpenSSH refuses
// "signal" for root logins, and a login user's signal cannot reach root's
// processes under sudo).
package nodes

import (
	"io"
	"time"
)

// Stream tells stdout from stderr.
type Stream int

const (
	Stdout Stream = iota
	Stderr
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// Line is one line of a command's output, delivered while the command runs.
type Line struct {
	Node   string
	Stream Stream
	Time   time.Time
	Text   string
}

// Cmd is one command to run on a node. Args are shell-quoted one by one, so a
// node name or path with spaces, quotes, ';' or '$()' is passed as data and
// never runs anything. Script, when set instead, is sent as is: only for
// fixed text written in this repository, never for values from input.
type Cmd struct {
	Args    []string
	Script  string
	Sudo    bool          // prefix with "sudo -n --" (never prompts)
	Timeout time.Duration // 0: the Runner's default
	Stdin   io.Reader     // optional
	// Redact lists substrings (tokens, keys) replaced by "<redacted>" in String().
	Redact []string
}

// Result is how a command ended on one node.
type Result struct {
	Node     string
	ExitCode int // -1 when the command did not finish (timeout, dead node)
	Duration time.Duration
	Stdout   string // collected, capped (see MaxCollect)
	Stderr   string
	Err      error // transport error, timeout, or *ExitError
}

// OK reports whether the command ran and exited 0.
func (r Result) OK() bool { return r.Err == nil && r.ExitCode == 0 }

// MaxCollect caps Result.Stdout/Stderr; lines still stream to the callback.
const MaxCollect = 1 << 20
