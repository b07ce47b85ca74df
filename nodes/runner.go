package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"golang.org/x/crypto/ssh"
)

// Zero Params fields take the cluster file's defaults (config.Default*):
// one owner for each, whether the Params come from a file or not.

// Target is where one node's SSH server is and who to log in as.
type Target struct {
	Name string
	Host string
	Port int
	User string
}

// Addr is host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// Params configures a Runner explicitly (tests, the lab). NewRunner builds
// them from the cluster file.
type Params struct {
	Nodes         []Target
	Jump          *Target // ProxyJump host; nil: connect directly
	IdentityFiles []string
	Signers       []ssh.Signer // keys held in memory, tried before files
	AgentSocket   string       // ssh-agent socket; "" = no agent
	Passphrase    PassphraseFunc
	KnownHosts    string
	AcceptNew     bool // record keys of unknown hosts (never changed ones)
	// OnHostKey hears each node's host key once it passed known_hosts (or
	// was recorded with AcceptNew).
	OnHostKey func(node, addr string, key ssh.PublicKey)
	// OnNewHostKey hears each key AcceptNew recorded in known_hosts.
	OnNewHostKey   func(node, addr string, key ssh.PublicKey)
	Sudo           bool // Probe checks "sudo -n true"
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	Keepalive      time.Duration
	Concurrency    int
}

// Options are the settings NewRunner cannot read from the cluster file.
type Options struct {
	AcceptNew  bool
	Passphrase PassphraseFunc // nil headless: encrypted keys must be in the agent
	// OnNewHostKey hears each host key AcceptNew recorded.
	OnNewHostKey func(node, addr string, key ssh.PublicKey)
	NoAgent      bool // ignore SSH_AUTH_SOCK
}

// Runner runs commands on nodes over SSH: one connection per node, dialed on
// first use and redialed after it dies, shared by that node's commands.
type Runner struct {
	p     Params
	nodes map[string]Target
	auth  *auth
	hk    *hostKeys
	wg    sync.WaitGroup // connection watchers

	mu     sync.Mutex
	slots  map[string]*slot
	closed bool
}

// slot serializes dialing one node, so concurrent commands dial once.
type slot struct {
	mu sync.Mutex
	c  *conn
}

// jumpSlot keys the jump host's slot; not a valid node name in a cluster file.
const jumpSlot = "\x00jump"

// NewRunner builds a Runner for every node of the cluster file.
func NewRunner(c *config.Cluster, opts Options) (*Runner, error) {
	s := c.SSH
	p := Params{
		IdentityFiles: s.IdentityFiles, KnownHosts: ExpandHome(s.KnownHosts),
		AcceptNew: opts.AcceptNew, OnNewHostKey: opts.OnNewHostKey, Passphrase: opts.Passphrase, Sudo: s.Sudo,
		ConnectTimeout: s.ConnectTimeout, CommandTimeout: s.CommandTimeout,
		Keepalive: s.Keepalive, Concurrency: s.Concurrency,
	}
	if !opts.NoAgent {
		p.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
	}
	for _, n := range c.Nodes {
		t := Target{Name: n.Name, Host: n.Address, Port: n.Port, User: n.User}
		if t.Port == 0 {
			t.Port = s.Port
		}
		if t.User == "" {
			t.User = s.User
		}
		p.Nodes = append(p.Nodes, t)
	}
	if s.JumpHost != "" {
		j, err := ParseJumpHost(s.JumpHost, s.User)
		if err != nil {
			return nil, fmt.Errorf("%s: ssh.jumpHost: %w", c.File, err)
		}
		p.Jump = &j
	}
	return New(p)
}

// ParseJumpHost reads "[user@]host[:port]"; user defaults to defUser.
func ParseJumpHost(s, defUser string) (Target, error) {
	t := Target{Name: "jump host " + s, User: defUser, Port: config.DefaultSSHPort}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '@' {
			t.User, s = s[:i], s[i+1:]
			break
		}
	}
	t.Host = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return Target{}, fmt.Errorf("bad port %q in %q: want [user@]host[:port]", p, s)
		}
		t.Host, t.Port = h, port
	}
	if t.Host == "" || t.User == "" {
		return Target{}, fmt.Errorf("%q: want [user@]host[:port]", s)
	}
	return t, nil
}

// New builds a Runner from explicit parameters. It reads identity files,
// connects to the agent and reads known_hosts now, so configuration errors
// show before any node is touched; nodes are dialed on first use.
func New(p Params) (*Runner, error) {
	if p.ConnectTimeout <= 0 {
		p.ConnectTimeout = config.DefaultConnectTimeout
	}
	if p.CommandTimeout <= 0 {
		p.CommandTimeout = config.DefaultCommandTimeout
	}
	if p.Keepalive <= 0 {
		p.Keepalive = config.DefaultKeepalive
	}
	if p.Concurrency <= 0 {
		p.Concurrency = config.DefaultConcurrency
	}
	r := &Runner{p: p, nodes: make(map[string]Target), slots: make(map[string]*slot)}
	for _, t := range p.Nodes {
		if t.Port == 0 {
			t.Port = config.DefaultSSHPort
		}
		if _, dup := r.nodes[t.Name]; dup {
			return nil, fmt.Errorf("node %s listed twice", t.Name)
		}
		r.nodes[t.Name] = t
	}
	if p.Jump != nil && p.Jump.Port == 0 {
		p.Jump.Port = config.DefaultSSHPort
	}
	hk, err := newHostKeys(ExpandHome(p.KnownHosts), p.AcceptNew)
	if err != nil {
		return nil, err
	}
	a, err := newAuth(p.IdentityFiles, p.Signers, p.AgentSocket, p.Passphrase)
	if err != nil {
		return nil, err
	}
	hk.seen, hk.recorded = p.OnHostKey, p.OnNewHostKey
	r.hk, r.auth = hk, a
	return r, nil
}

// Warnings are what the operator should hear about the SSH setup without it
// stopping anything (a stale SSH_AUTH_SOCK).
func (r *Runner) Warnings() []string { return r.auth.warnings }

// Close closes every connection and waits for their watchers. Running
// commands fail; the Runner must not be used afterwards.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	slots := r.slots
	r.slots = map[string]*slot{}
	r.mu.Unlock()
	for _, s := range slots {
		s.mu.Lock()
		if s.c != nil {
			s.c.fail(errors.New("etcd-dr closed the connection"))
		}
		s.mu.Unlock()
	}
	r.wg.Wait()
	r.auth.close()
	return nil
}

var errClosed = errors.New("nodes: Runner is closed")

// conn returns the live connection to node, dialing (through the jump
// host when configured) if there is none or the last one died.
func (r *Runner) conn(ctx context.Context, node string) (*conn, error) {
	t, ok := r.nodes[node]
	key := node
	if node == jumpSlot && r.p.Jump != nil {
		t, ok = *r.p.Jump, true
	}
	if !ok {
		return nil, fmt.Errorf("unknown node %q: not in the cluster file", node)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, errClosed
	}
	s := r.slots[key]
	if s == nil {
		s = &slot{}
		r.slots[key] = s
	}
	r.mu.Unlock()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil && s.c.alive() {
		return s.c, nil
	}
	var jump *ssh.Client
	if r.p.Jump != nil && node != jumpSlot {
		jc, err := r.conn(ctx, jumpSlot)
		if err != nil {
			return nil, fmt.Errorf("reach node %s through %s: %w", node, r.p.Jump.Name, err)
		}
		jump = jc.client
	}
	c, err := r.dial(ctx, t, jump, r.redialTimeout(s.c))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed { // Close ran while we dialed: do not leak the connection
		c.fail(errClosed)
		return nil, errClosed
	}
	s.c = c
	return c, nil
}
