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

// waitDelay bounds how long a finished command's output pipes stay open for
// background children that inherited them, so one "cmd &" does not hold the
// channel open forever.
const waitDelay = 2 * time.Second

// session is one "session" channel: env requests, then at most one exec.
type session struct {
	s    *Server
	user string
	ch   ssh.Channel
	env  []string

	mu      sync.Mutex
	pgid    int  // process group of the running command; 0 before exec
	started bool // an exec was accepted
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
		ok := sess.handle(ctx, req, &running)
		if req.WantReply {
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

func (sess *session) handle(ctx context.Context, req *ssh.Request, running *sync.WaitGroup) bool {
	switch req.Type {
	case "env":
		var kv struct{ Name, Value string }
		if ssh.Unmarshal(req.Payload, &kv) != nil {
			return false
		}
		sess.env = append(sess.env, kv.Name+"="+kv.Value)
		return true
	case "exec":
		var p struct{ Command string }
		if ssh.Unmarshal(req.Payload, &p) != nil {
			return false
		}
		return sess.exec(ctx, p.Command, running)
	case "signal":
		var p struct{ Signal string }
		if ssh.Unmarshal(req.Payload, &p) != nil {
			return false
		}
		sig, ok := signalByName(p.Signal)
		if ok {
			sess.kill(sig)
		}
		return ok
	default: // pty-req, shell, subsystem, x11-req...: not offered
		return false
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

// exec starts line and, in the background, waits for it, sends its exit
// status and closes the channel.
func (sess *session) exec(ctx context.Context, line string, running *sync.WaitGroup) bool {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.started {
		return false
	}
	cmd := sess.buildCmd(ctx, line)
	if cmd == nil {
		return false
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Stdout = sess.ch
	cmd.Stderr = sess.ch.Stderr()
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = waitDelay
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		sess.s.logf("sshserver %s: stdin pipe for %q: %v", sess.s.Addr(), line, err)
		return false
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		sess.s.logf("sshserver %s: start %q: %v", sess.s.Addr(), line, err)
		return false
	}
	sess.started, sess.pgid = true, cmd.Process.Pid
	if f := sess.s.cfg.OnExec; f != nil {
		f(sess.user, line, started)
	}
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
	return true
}

func (sess *session) wait(ctx context.Context, cmd *exec.Cmd, line string, started time.Time) {
	stop := context.AfterFunc(ctx, func() { sess.kill(syscall.SIGKILL) })
	defer stop()
	err := cmd.Wait()
	d := time.Since(started)
	code := cmd.ProcessState.ExitCode()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) && !errors.Is(err, exec.ErrWaitDelay) {
		sess.s.logf("sshserver %s: wait %q: %v", sess.s.Addr(), line, err)
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
