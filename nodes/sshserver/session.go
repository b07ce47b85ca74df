package sshserver

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// drainIdle bounds how long a finished command's output pipes are read
// while nothing arrives on them: only a child that left the command's
// process group (setsid), and so outlived it, can still hold them open,
// and it must not hold the channel open forever. What the command itself
// wrote is in the pipe by the time it exits and is read whole, however long
// the client takes: os/exec's WaitDelay, used before, closed the pipes 2 s
// after the exit even while their copy waited on the SSH window, and the
// client got exit 0 without the output.
const drainIdle = 2 * time.Second

// testHookBeforeExecReply, when set by a test, runs just before the
// answer to an exec request is sent: a busy machine's scheduler there.
var testHookBeforeExecReply func()

// session is one "session" channel: env requests, then at most one exec.
type session struct {
	s    *Server
	user string
	ch   ssh.Channel
	env  []string

	mu      sync.Mutex
	pgid    int  // process group of the running command; 0 before exec
	started bool // an exec was accepted
	out     []*outPipe
}

// outPipe carries one output stream of the command to the channel.
type outPipe struct {
	r, w *os.File
	done chan struct{} // the copy has ended
	mu   sync.Mutex
	over bool // the command has exited: reads time out when idle
}

func newOutPipe() (*outPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &outPipe{r: r, w: w, done: make(chan struct{})}, nil
}

func (p *outPipe) closeBoth() { _ = p.r.Close(); _ = p.w.Close() }

// copyTo copies the pipe to dst until every writer has closed it or, once
// the command has exited, nothing arrives for drainIdle. Data already in
// the pipe is returned by the next read at once, so nothing the command
// wrote is cut off; a write to a client that is gone ends the copy.
func (p *outPipe) copyTo(dst io.Writer) {
	defer close(p.done)
	defer p.r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := p.r.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or idle past drainIdle after the exit
		}
		p.mu.Lock()
		if p.over {
			_ = p.r.SetReadDeadline(time.Now().Add(drainIdle))
		}
		p.mu.Unlock()
	}
}

// exited starts the idle bound on reads (a read already waiting gets it too).
func (p *outPipe) exited() {
	p.mu.Lock()
	p.over = true
	_ = p.r.SetReadDeadline(time.Now().Add(drainIdle))
	p.mu.Unlock()
}

func (s *Server) serveSession(user string, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		s.logf("sshserver %s: accept session: %v", s.Addr(), err)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	sess := &session{s: s, user: user, ch: ch}
	var running sync.WaitGroup
	for req := range reqs {
		if ok, answered := sess.handle(ctx, req, &running); req.WantReply && !answered {
			_ = req.Reply(ok, nil)
		}
	}
	// The channel is closed (by the client, by us after exit, or because
	// the connection died): kill whatever is left of the command's group.
	cancel()
	sess.kill(syscall.SIGKILL)
	running.Wait()
	_ = ch.Close()
}

// handle serves one channel request; answered says it has already sent
// the reply (an exec answers before its command can end the channel).
func (sess *session) handle(ctx context.Context, req *ssh.Request, running *sync.WaitGroup) (ok, answered bool) {
	switch req.Type {
	case "env":
		var kv struct{ Name, Value string }
		if ssh.Unmarshal(req.Payload, &kv) != nil {
			return false, false
		}
		sess.env = append(sess.env, kv.Name+"="+kv.Value)
		return true, false
	case "exec":
		var p struct{ Command string }
		if ssh.Unmarshal(req.Payload, &p) != nil {
			return false, false
		}
		return sess.exec(ctx, p.Command, req, running)
	case "signal":
		var p struct{ Signal string }
		if ssh.Unmarshal(req.Payload, &p) != nil {
			return false, false
		}
		sig, ok := signalByName(p.Signal)
		if ok {
			sess.kill(sig)
		}
		return ok, false
	default: // pty-req, shell, subsystem, x11-req...: not offered
		return false, false
	}
}

func (sess *session) buildCmd(ctx context.Context, line string) *exec.Cmd {
	if sess.s.cfg.Command != nil {
		return sess.s.cfg.Command(ctx, line, append([]string(nil), sess.env...))
	}
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(os.Environ(), sess.env...)
	return cmd
}

// exec starts line, answers req and then, in the background, waits for
// the command, sends its exit status and closes the channel. The answer
// goes out before anything that can close the channel starts, as sshd's:
// a command that ends at once would otherwise close it first, and the
// client's Start would read EOF instead of its answer. answered is false
// when exec failed before answering (the caller then refuses req).
func (sess *session) exec(ctx context.Context, line string, req *ssh.Request, running *sync.WaitGroup) (ok, answered bool) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.started {
		return false, false
	}
	cmd := sess.buildCmd(ctx, line)
	if cmd == nil {
		return false, false
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	stdout, err := newOutPipe()
	if err != nil {
		sess.s.logf("sshserver %s: stdout pipe for %q: %v", sess.s.Addr(), line, err)
		return false, false
	}
	stderr, err := newOutPipe()
	if err != nil {
		stdout.closeBoth()
		sess.s.logf("sshserver %s: stderr pipe for %q: %v", sess.s.Addr(), line, err)
		return false, false
	}
	// Files, not writers: os/exec then copies nothing itself (so it has
	// nothing to cut short); the copies below run until the pipes end.
	cmd.Stdout, cmd.Stderr = stdout.w, stderr.w
	stdin, err := cmd.StdinPipe()
	if err != nil {
		stdout.closeBoth()
		stderr.closeBoth()
		sess.s.logf("sshserver %s: stdin pipe for %q: %v", sess.s.Addr(), line, err)
		return false, false
	}
	started := time.Now()
	err = cmd.Start()
	_ = stdout.w.Close() // the command holds its own copies now
	_ = stderr.w.Close()
	if err != nil {
		_ = stdout.r.Close()
		_ = stderr.r.Close()
		sess.s.logf("sshserver %s: start %q: %v", sess.s.Addr(), line, err)
		return false, false
	}
	sess.started, sess.pgid = true, cmd.Process.Pid
	if f := sess.s.cfg.OnExec; f != nil {
		f(sess.user, line, started)
	}
	if testHookBeforeExecReply != nil {
		testHookBeforeExecReply()
	}
	if req.WantReply {
		_ = req.Reply(true, nil)
	}
	go stdout.copyTo(sess.ch)
	go stderr.copyTo(sess.ch.Stderr())
	sess.out = []*outPipe{stdout, stderr}
	running.Add(2)
	go func() {
		defer running.Done()
		// Ends at the client's EOF or when the channel closes.
		_, _ = io.Copy(stdin, sess.ch)
		_ = stdin.Close()
	}()
	go func() {
		defer running.Done()
		sess.wait(ctx, cmd, line, started)
	}()
	return true, true
}

func (sess *session) wait(ctx context.Context, cmd *exec.Cmd, line string, started time.Time) {
	stop := context.AfterFunc(ctx, func() { sess.kill(syscall.SIGKILL) })
	defer stop()
	err := cmd.Wait()
	d := time.Since(started)
	code := cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		sess.s.logf("sshserver %s: wait %q: %v", sess.s.Addr(), line, err)
	}
	// Background children left in the group die with the command; then its
	// output is read to the end before the exit status goes out.
	sess.kill(syscall.SIGKILL)
	for _, p := range sess.out {
		p.exited()
	}
	for _, p := range sess.out {
		<-p.done
	}
	_ = sess.ch.CloseWrite()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		msg := struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: signalName(ws.Signal()), CoreDumped: ws.CoreDump()}
		_, _ = sess.ch.SendRequest("exit-signal", false, ssh.Marshal(&msg))
	} else {
		_, _ = sess.ch.SendRequest("exit-status", false, ssh.Marshal(&struct{ Status uint32 }{uint32(code)}))
	}
	if f := sess.s.cfg.OnExit; f != nil {
		f(sess.user, line, code, d)
	}
	// Background children left in the group die with the channel.
	sess.kill(syscall.SIGKILL)
	_ = sess.ch.Close()
}

// kill signals the command's whole process group, if one was started.
func (sess *session) kill(sig syscall.Signal) {
	sess.mu.Lock()
	pgid := sess.pgid
	sess.mu.Unlock()
	if pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// rfcSignals are the RFC 4254 signal names (no "SIG" prefix) we honour.
func rfcSignals() []syscall.Signal {
	return []syscall.Signal{syscall.SIGABRT, syscall.SIGALRM, syscall.SIGFPE, syscall.SIGHUP, syscall.SIGILL,
		syscall.SIGINT, syscall.SIGKILL, syscall.SIGPIPE, syscall.SIGQUIT, syscall.SIGSEGV, syscall.SIGTERM,
		syscall.SIGUSR1, syscall.SIGUSR2}
}

// signalByName maps an RFC 4254 signal name ("TERM") to its signal.
func signalByName(name string) (syscall.Signal, bool) {
	for _, sig := range rfcSignals() {
		if signalName(sig) == name {
			return sig, true
		}
	}
	return 0, false
}

// signalName is the RFC 4254 name of sig: unix.SignalName without "SIG".
func signalName(sig syscall.Signal) string {
	return strings.TrimPrefix(unix.SignalName(sig), "SIG")
}
