// Package sshserver is a small in-process SSH server that runs "exec"
// requests as local processes. It backs the drill lab's nodes and the nodes
// package's tests: a real SSH protocol peer (handshake, host keys, public-key
// auth, channels, signals, keepalives) without a system sshd.
//
// Every command runs in its own process group, and the whole group is killed
// when its channel closes or its client goes away, so a client that gives up
// on a command never leaves it running behind its back.
package sshserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config describes one server.
type Config struct {
	Addr           string          // e.g. "127.0.0.1:0"
	HostKeys       []ssh.Signer    // at least one
	AuthorizedKeys []ssh.PublicKey // public-key auth only; any user name is accepted
	// Command builds the process for one exec request (default: /bin/sh -c
	// line with the server's environment plus env). env holds the client's
	// "env" requests as NAME=value. The server sets Setpgid and the
	// stdio; ctx ends when the session ends.
	Command func(ctx context.Context, line string, env []string) *exec.Cmd
	OnExec  func(user, line string, started time.Time)         // optional: audit/timeline
	OnExit  func(user, line string, code int, d time.Duration) // optional; code -1: killed by a signal
	Logf    func(format string, args ...any)                   // optional
	// AllowTCPForwarding accepts "direct-tcpip" channels, so the server can
	// act as a jump host (ProxyJump) for other nodes.
	AllowTCPForwarding bool
}

// Server is a running SSH server. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	ln     net.Listener
	gate   *gate
	ctx    context.Context // ends at Close: kills every running command
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	hostKeys []ssh.Signer
	conns    map[net.Conn]struct{}
	closed   bool
}

// handshakeTimeout bounds a connection that never finishes its handshake, so
// a stray port scan does not hold a goroutine until Close. 120 s is
// OpenSSH's LoginGraceTime default: at 30 s, 100 endpoints in one process on
// a machine at load 25–36 dropped handshakes that sshd would have finished
// (the bench's flush row failed with EOF from its floor client).
const handshakeTimeout = 120 * time.Second

// Start listens on cfg.Addr and serves until Close.
func Start(cfg Config) (*Server, error) {
	if len(cfg.HostKeys) == 0 {
		return nil, errors.New("sshserver: no host keys")
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sshserver: listen on %s: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:      cfg,
		ln:       ln,
		gate:     newGate(),
		ctx:      ctx,
		cancel:   cancel,
		hostKeys: append([]ssh.Signer(nil), cfg.HostKeys...),
		conns:    make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr is the address the server listens on (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening, closes every connection, kills every running
// command's process group and waits until all of the server's goroutines
// have ended. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.gate.close()
	s.wg.Wait()
	return err
}

// Pause stops all I/O on every connection, current and new, without closing
// any: peers see a live TCP connection that says nothing, as if sshd had been
// sent SIGSTOP. Running commands keep running until their output blocks.
func (s *Server) Pause() { s.gate.pause() }

// Resume undoes Pause; held data flows again.
func (s *Server) Resume() { s.gate.resume() }

// SetHostKeys replaces the host keys offered to new connections (the "host
// key changed" fault). Established connections keep theirs.
func (s *Server) SetHostKeys(keys ...ssh.Signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hostKeys = append([]ssh.Signer(nil), keys...)
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.logf("sshserver %s: accept: %v", s.Addr(), err)
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serverConfig() *ssh.ServerConfig {
	authorized := make(map[string]bool, len(s.cfg.AuthorizedKeys))
	for _, k := range s.cfg.AuthorizedKeys {
		authorized[string(k.Marshal())] = true
	}
	conf := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if authorized[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s not authorized for %s", ssh.FingerprintSHA256(key), meta.User())
		},
	}
	s.mu.Lock()
	for _, k := range s.hostKeys {
		conf.AddHostKey(k)
	}
	s.mu.Unlock()
	return conf
}

func (s *Server) serveConn(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		_ = raw.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	c := &gatedConn{Conn: raw, g: s.gate}
	_ = raw.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(c, s.serverConfig())
	if err != nil {
		s.logf("sshserver %s: handshake with %s: %v", s.Addr(), raw.RemoteAddr(), err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	defer sconn.Close()

	var conns sync.WaitGroup
	conns.Add(1)
	go func() {
		defer conns.Done()
		for req := range reqs {
			// keepalive@openssh.com must get an answer (any answer) or the
			// client declares us dead; unknown requests get "failure".
			if req.WantReply {
				_ = req.Reply(req.Type == "keepalive@openssh.com", nil)
			}
		}
	}()
	for nc := range chans {
		switch {
		case nc.ChannelType() == "session":
			conns.Add(1)
			go func() {
				defer conns.Done()
				s.serveSession(sconn.User(), nc)
			}()
		case nc.ChannelType() == "direct-tcpip" && s.cfg.AllowTCPForwarding:
			conns.Add(1)
			go func() {
				defer conns.Done()
				s.forward(nc)
			}()
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "unsupported channel type "+nc.ChannelType())
		}
	}
	// The client is gone: closing the connection ends every channel's
	// request stream, which kills each session's process group.
	_ = sconn.Close()
	conns.Wait()
}
