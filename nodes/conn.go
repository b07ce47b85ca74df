package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// conn is one node's SSH connection, shared by all commands to that node.
// It dies once: when keepalives go unanswered, the peer closes it, or the
// Runner closes; done is then closed and err says why.
type conn struct {
	client *ssh.Client
	done   chan struct{}
	once   sync.Once
	err    error     // set before done is closed
	died   time.Time // set before done is closed
}

func (c *conn) fail(err error) {
	c.once.Do(func() {
		c.err, c.died = err, time.Now()
		close(c.done)
		_ = c.client.Close()
	})
}

func (c *conn) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// deadErr is why the connection died; nil while alive.
func (c *conn) deadErr() error {
	if c.alive() {
		return nil
	}
	return c.err
}

// dial connects to t, through jump when non-nil, and starts the watchers
// that declare the connection dead.
func (r *Runner) dial(ctx context.Context, t Target, via *ssh.Client, jump *Target, timeout time.Duration) (*conn, error) {
	addr := t.Addr()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		nc  net.Conn
		err error
	)
	if via != nil {
		nc, err = via.DialContext(ctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil && via != nil && ctx.Err() == nil {
		return nil, &ConnectError{Node: t.Name, Addr: addr, Err: fmt.Errorf("connect to node %s (%s) through %s: the jump host could not connect to it: %w "+
			"(check the node's address and that the jump host allows TCP forwarding)", t.Name, addr, jump.Name, err)}
	}
	if err != nil {
		return nil, r.dialErr(ctx, t, "connect", timeout, err)
	}
	// A server that accepts TCP but never speaks must not hang us: closing
	// the conn ends the handshake when the connect timeout expires.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              r.auth.methods(t),
		HostKeyCallback:   r.hostKeysFor(t).callback(t.Name),
		HostKeyAlgorithms: r.hostKeysFor(t).algorithms(addr),
		Timeout:           timeout,
	}
	sc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if !stop() || err != nil {
		_ = nc.Close()
		if err == nil {
			err = context.DeadlineExceeded
		}
		return nil, r.dialErr(ctx, t, "handshake", timeout, err)
	}
	c := &conn{client: ssh.NewClient(sc, chans, reqs), done: make(chan struct{})}
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		err := c.client.Wait()
		c.fail(&NodeDeadError{Node: t.Name, Addr: addr, Cause: orEOF(err)})
	}()
	go func() {
		defer r.wg.Done()
		r.keepalive(c, t)
	}()
	return c, nil
}

func orEOF(err error) error {
	if err == nil {
		return errors.New("closed by the server")
	}
	return err
}

// dialErr turns a dial failure into a message naming the node and what to
// check; host key errors pass through (they already say it).
func (r *Runner) dialErr(ctx context.Context, t Target, phase string, timeout time.Duration, err error) error {
	var hke *HostKeyError
	if errors.As(err, &hke) {
		return hke
	}
	ce := &ConnectError{Node: t.Name, Addr: t.Addr()}
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		ce.Err = fmt.Errorf("connect to node %s (%s) as %s: no SSH answer within %s (%s); check the address, port, firewall and jump host",
			t.Name, t.Addr(), t.User, timeout, phase)
	case strings.Contains(err.Error(), "unable to authenticate"):
		ce.Err = fmt.Errorf("connect to node %s (%s): user %s was refused with every key offered (%s); check ssh.user and the node's authorized_keys: %w",
			t.Name, t.Addr(), t.User, r.auth.describe(t), err)
	default:
		ce.Err = fmt.Errorf("connect to node %s (%s) as %s: %w", t.Name, t.Addr(), t.User, err)
	}
	return ce
}

// keepalive sends keepalive@openssh.com every interval; a node that has not
// replied (success or failure, both prove the peer lives) for two intervals
// is declared dead. Silence is counted from the last reply, not from the
// last request, so a node that freezes is declared dead at most two
// intervals after it went quiet: 10 s with the default interval.
func (r *Runner) keepalive(c *conn, t Target) {
	interval := r.p.Keepalive
	tick := time.NewTicker(interval)
	defer tick.Stop()
	silence := time.NewTimer(2 * interval)
	defer silence.Stop()
	replies := make(chan error, 1)
	waiting := false // a request is out; one at a time
	for {
		select {
		case <-tick.C:
			if waiting {
				continue
			}
			waiting = true
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
				replies <- err // never blocks: one request at a time, buffer of one
			}()
		case err := <-replies:
			waiting = false
			if err != nil {
				c.fail(&NodeDeadError{Node: t.Name, Addr: t.Addr(), Cause: err})
				return
			}
			silence.Reset(2 * interval)
		case <-silence.C:
			c.fail(&NodeDeadError{Node: t.Name, Addr: t.Addr(), Silence: 2 * interval})
			return
		case <-c.done:
			return
		}
	}
}

// redialTimeout is how long to wait for node when reconnecting after c.
// A node that just went silent is most likely still silent: waiting the
// whole connect timeout for it again would push the step's failure past
// the 15 s an operator is promised. One that came back answers a loopback
// or LAN dial well within half a keepalive interval.
func (r *Runner) redialTimeout(c *conn) time.Duration {
	var dead *NodeDeadError
	if c == nil || c.alive() || !errors.As(c.err, &dead) || dead.Silence == 0 ||
		time.Since(c.died) > 2*r.p.Keepalive {
		return r.p.ConnectTimeout
	}
	return min(r.p.ConnectTimeout, r.p.Keepalive/2)
}
