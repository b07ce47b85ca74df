package sshserver

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// forwardDialTimeout bounds the jump host's dial to the next hop.
const forwardDialTimeout = 10 * time.Second

// forward serves one "direct-tcpip" channel (RFC 4254 section 7.2): the
// client asks us to connect to host:port and relay bytes, as sshd does for
// "ssh -J".
func (s *Server) forward(nc ssh.NewChannel) {
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	target := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	d := net.Dialer{Timeout: forwardDialTimeout}
	conn, err := d.DialContext(s.ctx, "tcp", target)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "connect to "+target+": "+err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = conn.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		ssh.DiscardRequests(reqs)
		// The channel is fully closed: drop the target connection too.
		_ = conn.Close()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(conn, ch)
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(ch, conn)
		_ = ch.Close()
	}()
	stop := context.AfterFunc(s.ctx, func() { _ = conn.Close(); _ = ch.Close() })
	defer stop()
	wg.Wait()
}
