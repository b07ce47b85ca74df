package lab

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// An external load balancer in front of etcd, as some clusters run one
// (--etcd-servers names it instead of the members): a TCP proxy in the lab
// process on its own loopback address, passing TLS through to the members'
// client URLs, round-robin per connection. The procedure cannot change its
// backends (step 3 is a manual gate for it); SetBackends is the operator's
// hand on it in tests.

// lbAddr is the load balancer's address in block b: 127.B.40.1.
func lbAddr(block int) string { return fmt.Sprintf("127.%d.40.1", block) }

// LB is the lab's etcd load balancer.
type LB struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string // host:port
	next     int
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// StartLB listens on addr (host:port) and forwards every connection to
// one of backends, trying the next when one refuses.
func StartLB(addr string, backends []string) (*LB, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lab: etcd load balancer on %s: %w", addr, err)
	}
	b := &LB{ln: ln, backends: slices.Clone(backends), conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

// Addr is host:port the load balancer listens on.
func (b *LB) Addr() string { return b.ln.Addr().String() }

// URL is the https URL apiservers and etcdctl use for it.
func (b *LB) URL() string { return "https://" + b.Addr() }

// Backends are the host:port targets new connections go to.
func (b *LB) Backends() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.backends)
}

// SetBackends retargets new connections; open ones stay where they are, as
// with a real load balancer draining its old pool, unless drop is set.
func (b *LB) SetBackends(backends []string, drop bool) {
	b.mu.Lock()
	b.backends, b.next = slices.Clone(backends), 0
	var open []net.Conn
	if drop {
		for c := range b.conns {
			open = append(open, c)
		}
	}
	b.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// Close stops listening, cuts every open connection and waits for the
// forwarding goroutines.
func (b *LB) Close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	err := b.ln.Close()
	b.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func (b *LB) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed
		}
		if !b.track(c) {
			c.Close()
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.forward(c)
		}()
	}
}

// track records c so Close can cut it; false once closed.
func (b *LB) track(c net.Conn) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

func (b *LB) untrack(cs ...net.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		delete(b.conns, c)
	}
}

// pick returns the backends in the order to try for one connection.
func (b *LB) pick() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.backends)
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, b.backends[(b.next+i)%n])
	}
	if n > 0 {
		b.next = (b.next + 1) % n
	}
	return out
}

func (b *LB) forward(c net.Conn) {
	defer c.Close()
	var up net.Conn
	for _, target := range b.pick() {
		var err error
		if up, err = net.DialTimeout("tcp", target, 2*time.Second); err == nil {
			break
		}
	}
	if up == nil {
		b.untrack(c)
		return // no backend answers: the client sees the connection close
	}
	if !b.track(up) {
		up.Close()
		b.untrack(c)
		return
	}
	defer b.untrack(c, up)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// EtcdLB is the lab's load balancer, nil unless Options.EtcdLB.
func (l *Lab) EtcdLB() *LB { return l.lb }

// startLB starts the load balancer in front of the members' client URLs.
func (l *Lab) startLB() error {
	if !l.opts.EtcdLB {
		return nil
	}
	var backends []string
	for _, m := range l.opts.members() {
		backends = append(backends, net.JoinHostPort(m.Addr, "2379"))
	}
	lb, err := StartLB(net.JoinHostPort(lbAddr(l.opts.Block), "2379"), backends)
	if err != nil {
		return err
	}
	l.lb = lb
	l.opts.Progress("etcd load balancer " + lb.URL() + " -> " + fmt.Sprint(backends))
	return nil
}

func (l *Lab) closeLB() error {
	if l.lb == nil {
		return nil
	}
	return l.lb.Close()
}

// lbServerCert reissues a member's etcd server certificate with the load
// balancer's address among its SANs: a client reaching the member through
// the load balancer checks the name it dialled, as with a real one.
func (l *Lab) lbServerCert(pkiDir, nodeName, addr string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeName},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    []string{"localhost", nodeName},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(addr), net.ParseIP(lbAddr(l.opts.Block))},
	}
	kp, err := sign(tmpl, &l.pki.EtcdCA)
	if err != nil {
		return fmt.Errorf("node %s: %w", nodeName, err)
	}
	return writePair(pkiDir, "etcd/server", kp)
}

// WriteEtcdServerCert writes dir/server.crt and server.key, signed by the
// lab's etcd CA for the load balancer's address and ips: a test's stand-in
// for another etcd cluster the load balancer may wrongly point at.
func (l *Lab) WriteEtcdServerCert(dir string, ips ...string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "other-etcd"},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP(lbAddr(l.opts.Block))},
	}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	kp, err := sign(tmpl, &l.pki.EtcdCA)
	if err != nil {
		return err
	}
	if err := writePair(dir, "server", kp); err != nil {
		return err
	}
	etcdCA, _ := l.pki.CAPEM()
	return os.WriteFile(filepath.Join(dir, "ca.crt"), etcdCA, 0o644)
}
