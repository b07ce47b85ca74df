package nodes

import (
	"fmt"
	"time"
)

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Node string
	Code int
	Cmd  string // as shown to operators (redacted)
	Tail string // last line of stderr, for the one-line message
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("on %s, %s exited with status %d", e.Node, e.Cmd, e.Code)
	if e.Tail != "" {
		msg += ": " + e.Tail
	}
	return msg
}

// SudoPasswordError is sudo refusing to run without a password.
type SudoPasswordError struct {
	Node string
	User string
	Cmd  string
}

func (e *SudoPasswordError) Error() string {
	return fmt.Sprintf("sudo on %s wants a password; etcd-dr needs passwordless sudo (NOPASSWD) for %s to run %s: "+
		"add '%s ALL=(ALL) NOPASSWD: ALL' with visudo on %s (or connect as root and set ssh.sudo: false)",
		e.Node, e.User, e.Cmd, e.User, e.Node)
}

// TimeoutError is a command killed because it outlived its timeout.
type TimeoutError struct {
	Node  string
	After time.Duration
	Cmd   string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("on %s, %s did not finish within %s; etcd-dr sent SIGTERM, then SIGKILL, to its process group",
		e.Node, e.Cmd, e.After)
}

// NodeDeadError is a connection that stopped answering keepalives or broke.
// Commands running on it failed with this error: their outcome is unknown.
type NodeDeadError struct {
	Node    string
	Addr    string
	Silence time.Duration // 0 when the connection broke rather than went silent
	Cause   error
}

func (e *NodeDeadError) Error() string {
	what := fmt.Sprintf("connection to node %s (%s) broke: %v", e.Node, e.Addr, e.Cause)
	if e.Silence > 0 {
		what = fmt.Sprintf("node %s (%s) stopped answering SSH keepalives for %s", e.Node, e.Addr, e.Silence.Round(time.Second))
	}
	return what + "; commands running there were abandoned and their outcome is unknown: check the node (console, network) before retrying"
}

func (e *NodeDeadError) Unwrap() error { return e.Cause }

// ConnectError is a node that could not be reached or logged into: no SSH
// answer, a refused connection, every key refused. Nothing ran there.
// Steps stop waiting on such a node at once rather than at their deadline:
// the operator must hear within seconds that a node is gone.
type ConnectError struct {
	Node string
	Addr string
	Err  error // says what failed and what to check
}

func (e *ConnectError) Error() string { return e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }
