package sshserver

import (
	"net"
	"sync"
)

// gate holds all connection I/O while paused. It models a stopped sshd: the
// kernel keeps the TCP connection up, but nothing is read or written.
type gate struct {
	mu      sync.Mutex
	paused  bool
	resumed chan struct{} // closed on Resume; replaced on Pause
	done    chan struct{} // closed on Close
	once    sync.Once
}

func newGate() *gate {
	g := &gate{resumed: make(chan struct{}), done: make(chan struct{})}
	close(g.resumed)
	return g
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		g.paused = true
		g.resumed = make(chan struct{})
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused {
		g.paused = false
		close(g.resumed)
	}
}

func (g *gate) close() { g.once.Do(func() { close(g.done) }) }

// wait blocks while the gate is paused; it fails once the server closes.
func (g *gate) wait() error {
	g.mu.Lock()
	ch := g.resumed
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-g.done:
		return net.ErrClosed
	}
}

// gatedConn passes reads and writes through the gate. A read that returns
// while paused holds its data until Resume, so nothing reaches the SSH layer
// (no keepalive reply, no command output) during the pause.
type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if err := c.g.wait(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if werr := c.g.wait(); werr != nil {
		return 0, werr
	}
	return n, err
}

func (c *gatedConn) Write(p []byte) (int, error) {
	if err := c.g.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
