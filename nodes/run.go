package nodes

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// killGrace is how long a command gets to exit after SIGTERM before
// SIGKILL, and after SIGKILL before the session is closed regardless.
const killGrace = 2 * time.Second

// Run runs cmd on node and waits for it. Output lines stream to onLine
// (optional; one call at a time, keep it fast) while it runs. The returned error is Result.Err: nil only when the command
// exited 0; *ExitError, *SudoPasswordError, *TimeoutError, *NodeDeadError,
// *HostKeyError or a connect error otherwise. cmd.Stdin, when set, must
// reach EOF.
//
// On timeout or cancellation the remote command is really ended (see wrap):
// SIGTERM then SIGKILL to its process group, both as a "signal" request and
// as a kill command in a second session; the node's own timeout is the
// backstop when the node cannot be reached. Closing the channel alone would
// not do: without a pty, sshd leaves the command running.
func (r *Runner) Run(ctx context.Context, node string, cmd Cmd, onLine func(Line)) (Result, error) {
	res := r.run(ctx, node, cmd, onLine)
	return res, res.Err
}

func (r *Runner) run(ctx context.Context, node string, cmd Cmd, onLine func(Line)) Result {
	start := time.Now()
	res := Result{Node: node, ExitCode: -1}
	finish := func(err error) Result {
		res.Err, res.Duration = err, time.Since(start)
		return res
	}
	if len(cmd.Args) == 0 && cmd.Script == "" {
		return finish(fmt.Errorf("empty command for %s", node))
	}
	timeout := cmd.Timeout
	if timeout <= 0 {
		timeout = r.p.CommandTimeout
	}
	c, sess, err := r.session(ctx, node)
	if err != nil {
		return finish(err)
	}
	defer sess.Close()
	var emitMu sync.Mutex
	nonce := rand.Text()
	out := newLineWriter(node, Stdout, onLine, &emitMu, "")
	errOut := newLineWriter(node, Stderr, onLine, &emitMu, nonce)
	sess.Stdout, sess.Stderr, sess.Stdin = out, errOut, cmd.Stdin
	// The node's own deadline comes after ours, so we normally act first.
	if err := sess.Start(wrap(cmd, timeout+2*killGrace, nonce)); err != nil {
		if errors.Is(err, io.EOF) {
			// The channel or the connection closed before the server
			// answered the exec (sshd answers before its child can end):
			// the connection is going. Name the node and its address as a
			// cut mid-command does, and redial next time.
			return finish(r.startCut(c, node, err))
		}
		return finish(fmt.Errorf("start %s on %s: %w", cmd, node, err))
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()

	var werr error
	select {
	case werr = <-waited:
	case <-cctx.Done():
		r.stopRemote(c, sess, cmd.Sudo, errOut, waited)
		if ctx.Err() != nil {
			werr = fmt.Errorf("%s on %s cancelled (etcd-dr sent SIGTERM, then SIGKILL): %w", cmd, node, ctx.Err())
		} else {
			werr = &TimeoutError{Node: node, After: timeout, Cmd: cmd.String()}
		}
	case <-c.done:
		werr = c.deadErr()
	}
	res.Stdout, res.Stderr = out.finish(), errOut.finish()
	if werr != nil && !isExit(werr) && c.alive() {
		// A session cut without an exit status most often means the
		// connection went with it, and the goroutine that records that may
		// not have run yet: give it a moment, so the operator reads "the
		// connection to cp-2 (addr) broke", not an unexplained cut.
		t := time.NewTimer(connFateWait)
		select {
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
	}
	if dead := c.deadErr(); dead != nil && !isExit(werr) {
		werr = dead
	}
	res.ExitCode, werr = r.classify(node, cmd, res.Stderr, werr)
	return finish(werr)
}

// startCut is a Start that read EOF: the connection's own error once it
// is known dead (within connFateWait), else a NodeDeadError that also
// marks the cached connection dead.
func (r *Runner) startCut(c *conn, node string, err error) error {
	t := time.NewTimer(connFateWait)
	select {
	case <-c.done:
	case <-t.C:
	}
	t.Stop()
	if dead := c.deadErr(); dead != nil {
		return dead
	}
	dead := &NodeDeadError{Node: node, Addr: r.nodes[node].Addr(), Cause: err}
	c.fail(dead)
	return dead
}

// connFateWait bounds how long a command cut without an exit status waits
// to learn whether its connection died.
const connFateWait = time.Second

// session opens a session on node's connection, redialing once if the
// cached connection turns out to be dead.
func (r *Runner) session(ctx context.Context, node string) (*conn, *ssh.Session, error) {
	for attempt := 0; ; attempt++ {
		c, err := r.conn(ctx, node)
		if err != nil {
			return nil, nil, err
		}
		sess, err := c.client.NewSession()
		if err == nil {
			return c, sess, nil
		}
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			// The server answered: the connection is fine, it just will not
			// open another session (OpenSSH MaxSessions defaults to 10).
			return nil, nil, fmt.Errorf("open a session on %s: %w (too many commands at once on one node? see MaxSessions in its sshd_config)", node, err)
		}
		c.fail(&NodeDeadError{Node: node, Addr: r.nodes[node].Addr(), Cause: err})
		if attempt > 0 {
			return nil, nil, fmt.Errorf("open a session on %s: %w", node, err)
		}
	}
}

// stopRemote ends the remote command: SIGTERM, then SIGKILL, each sent as a
// "signal" request and with kill(1) on the wrapper's process group, then
// closes the channel. On a loaded node the command may not have started
// (nor named its process group) when the deadline fires: each round waits
// up to killGrace for the pid line before it gives up on kill(1), so a
// command that starts late is still ended by etcd-dr, not only by the
// node's backstop.
func (r *Runner) stopRemote(c *conn, sess *ssh.Session, sudo bool, pid *lineWriter, waited <-chan error) {
	for _, sig := range []ssh.Signal{ssh.SIGTERM, ssh.SIGKILL} {
		_ = sess.Signal(sig)
		// A context's Done stays closed once the round is over, so both
		// waits below see the end of the round (a timer's channel fires once).
		round, cancel := context.WithTimeout(context.Background(), killGrace)
		select {
		case <-waited:
			cancel()
			return
		case <-pid.pidSeen:
			killGroup(c, pid.remotePID(), string(sig), sudo)
		case <-round.Done():
		}
		select {
		case <-waited:
			cancel()
			return
		case <-round.Done():
		}
		cancel()
	}
	_ = sess.Close()
	select {
	case <-waited:
	case <-time.After(killGrace):
	}
}

// killGroup runs `kill -SIG -- -PID` in its own session, best effort: the
// node's timeout still ends the command if this fails.
func killGroup(c *conn, pid int, sig string, sudo bool) {
	s, err := c.client.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	line := Cmd{Args: []string{"kill", "-" + sig, "--", "-" + strconv.Itoa(pid)}, Sudo: sudo}.Line()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(line)
	}()
	select {
	case <-done:
	case <-time.After(killGrace):
	}
}

func isExit(err error) bool {
	var ee *ssh.ExitError
	return errors.As(err, &ee)
}

// classify turns Wait's error into the exit code and the error to report.
func (r *Runner) classify(node string, cmd Cmd, stderr string, err error) (int, error) {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee):
		code := ee.ExitStatus()
		if code == 127 && strings.Contains(stderr, "exec: timeout: not found") {
			return code, fmt.Errorf("%s has no timeout(1) command, which etcd-dr uses so a command always ends on the node: install coreutils on %s", node, node)
		}
		if cmd.Sudo && code == 1 && sudoWantsPassword(stderr) {
			return code, &SudoPasswordError{Node: node, User: r.nodes[node].User, Cmd: cmd.String()}
		}
		return code, &ExitError{Node: node, Code: code, Cmd: cmd.String(), Tail: lastLine(StderrWithoutSudoWarnings(stderr))}
	case errors.As(err, &missing):
		return -1, fmt.Errorf("on %s, %s ended without an exit status (connection lost?); its outcome is unknown", node, cmd)
	default:
		return -1, err
	}
}

func sudoWantsPassword(stderr string) bool {
	return strings.Contains(stderr, "sudo: a password is required") ||
		strings.Contains(stderr, "sudo: a terminal is required")
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// Each calls fn for every name, at most limit at once (the configured
// ssh.concurrency; below 1, one at a time), and returns once every call
// has returned, with fn's error per name in input order. A name whose turn
// comes after ctx ended is not run: its error is ctx's. It is the one
// bounded fan-out: the engine's steps, `etcd-dr check` and FanOut use it.
func Each(ctx context.Context, limit int, names []string, fn func(ctx context.Context, i int, name string) error) []error {
	sem := make(chan struct{}, max(limit, 1))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
			}
			// A slot freed by a cancelled command is ready at the same
			// time as ctx.Done, and select picks at random: check again.
			if err := ctx.Err(); err != nil {
				errs[i] = err
				return
			}
			errs[i] = fn(ctx, i, name)
		})
	}
	wg.Wait()
	return errs
}

// FanOut runs build(node) on every node, at most Params.Concurrency at once,
// and returns one Result per node in input order. onLine (optional)
// receives every node's lines, one call at a time. Cancelling ctx stops all;
// a dead node fails on its own (connect timeout, keepalive) without holding
// up the others.
func (r *Runner) FanOut(ctx context.Context, nodes []string, build func(node string) Cmd, onLine func(Line)) []Result {
	results := make([]Result, len(nodes))
	var emitMu sync.Mutex
	var emit func(Line)
	if onLine != nil {
		emit = func(l Line) {
			emitMu.Lock()
			defer emitMu.Unlock()
			onLine(l)
		}
	}
	errs := Each(ctx, r.p.Concurrency, nodes, func(ctx context.Context, i int, node string) error {
		results[i] = r.run(ctx, node, build(node), emit)
		return nil
	})
	for i, err := range errs {
		if err != nil {
			results[i] = Result{Node: nodes[i], ExitCode: -1, Err: fmt.Errorf("not run on %s: %w", nodes[i], err)}
		}
	}
	return results
}
