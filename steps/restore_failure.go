package steps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// restoreError is a member's failed restore as the operator reads it: the
// cause first (etcdutl's own error line), then what became of the new data
// dir. The remote script and its arguments fill a screen and hide the
// cause, so they stay in the transcript only; Unwrap keeps the transport's
// error (timeout, dead node) for callers that test for it.
type restoreError struct {
	node, msg string
	err       error
}

func (e *restoreError) Error() string { return e.msg }
func (e *restoreError) Unwrap() error { return e.err }

// restoreFailure turns the restore action's failure on m into a
// restoreError naming the node, the cause and the new data dir.
func restoreFailure(m Member, newDir string, res nodes.Result, err error) error {
	msg := fmt.Sprintf("on %s, etcdutl snapshot restore of member %s failed: %s; the new data dir %s is kept for inspection "+
		"and is not used: etcd still points at %s (a retry removes it, being this run's by its marker, and nothing else); the full command and output are in the transcript",
		m.Node, m.Name, restoreCause(res, err), newDir, m.DataDir)
	return &NodeError{Node: m.Node, Err: &restoreError{node: m.Node, msg: msg, err: err}}
}

// restoreCause is the one line that says why: etcdutl's "Error:" line, the
// script's refusal, or how the command ended when it printed nothing.
func restoreCause(res nodes.Result, err error) string {
	var te *nodes.TimeoutError
	var de *nodes.NodeDeadError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("it did not finish within %s (etcd-dr stopped it: SIGTERM, then SIGKILL)", te.After)
	case errors.As(err, &de):
		return de.Error()
	}
	lines := strings.Split(strings.TrimSpace(nodes.StderrWithoutSudoWarnings(res.Stderr)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "Error:") {
			return clip(strings.TrimSpace(strings.TrimPrefix(l, "Error:")))
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return clip(l)
		}
	}
	if res.ExitCode != 0 {
		return fmt.Sprintf("exit status %d with no error output", res.ExitCode)
	}
	if err != nil {
		return err.Error()
	}
	return "no error output"
}
