package nodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"golang.org/x/crypto/ssh"
)

// Zero Params fields take the cluster file's defaults (config.Default*):
// one owner for each, whether the Params come from a file or not.

// Target is where one node's SSH server is and who to log in as, and what
// OpenSSH's configuration says about reaching it; the empty fields take the
// Runner's Params.
type Target struct {
	Name string
	Host string
	Port int
	User string
	// Identities are private key files for this target only (ssh_config's
	// IdentityFile); nil: Params.IdentityFiles. One that cannot be read is
	// skipped with a warning, as OpenSSH skips it.
	Identities []string
	// Certificates are OpenSSH user certificates (CertificateFile), each
	// offered with the private key it certifies.
	Certificates []string
	// KnownHosts are the files its host key is checked against: the first
	// is the one --accept-new-host-keys writes; nil: Params.KnownHosts.
	KnownHosts []string
	// Jumps are the ProxyJump hops, outermost first; nil: Params.Jump.
	Jumps []Target
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
	// OnHostKey hears each host key that passed known_hosts (init prints
	// every one for the operator to compare).
	OnHostKey func(node, addr string, key ssh.PublicKey)
	NoAgent   bool // ignore SSH_AUTH_SOCK
}

// Runner runs commands on nodes over SSH: one connection per node, dialed on
// first use and redialed after it dies, shared by that node's commands.
type Runner struct {
	p     Params
	nodes map[string]Target
	auth  *auth
	hk    map[string]*hostKeys // by the known_hosts files' list (hkKey)
	wg    sync.WaitGroup       // connection watchers

	mu     sync.Mutex
	slots  map[string]*slot
	closed bool
}

// slot serializes dialing one node, so concurrent commands dial once.
type slot struct {
	mu sync.Mutex
	c  *conn
}

// NewRunner builds a Runner for every node of the cluster file.
func NewRunner(c *config.Cluster, opts Options) (*Runner, error) {
	p, warnings, err := clusterParams(c, opts)
	if err != nil {
		return nil, err
	}
	r, err := New(p)
	if err != nil {
		return nil, err
	}
	r.auth.warnings = append(warnings, r.auth.warnings...)
	return r, nil
}

// clusterParams are the Params the cluster file and OpenSSH's configuration
// say, each node resolved (ssh -G); nothing is read or dialed beyond that.
func clusterParams(c *config.Cluster, opts Options) (Params, []string, error) {
	s := c.SSH
	p := Params{
		IdentityFiles: s.IdentityFiles, KnownHosts: ExpandHome(s.KnownHosts),
		AcceptNew: opts.AcceptNew, OnNewHostKey: opts.OnNewHostKey, OnHostKey: opts.OnHostKey, Passphrase: opts.Passphrase, Sudo: s.Sudo,
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
			return p, nil, fmt.Errorf("%s: ssh.jumpHost: %w", c.File, err)
		}
		p.Jump = &j
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // ssh -G reads files
	defer cancel()
	warnings, err := resolveNodes(ctx, c, &p)
	return p, warnings, err
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
	a, err := newAuth(p.IdentityFiles, p.Signers, p.AgentSocket, p.Passphrase)
	if err != nil {
		return nil, err
	}
	r.auth, r.hk = a, map[string]*hostKeys{}
	// Every target and hop is checked now, so a missing key or known_hosts
	// file shows before any node is touched (with no nodes, the Params).
	targets := p.Nodes
	if len(targets) == 0 {
		targets = []Target{{Name: "every node"}}
	}
	for _, t := range targets {
		for _, hop := range append(r.jumps(t), t) {
			if err := r.prepare(hop); err != nil {
				a.close()
				return nil, err
			}
		}
	}
	return r, nil
}

// prepare loads what dialing t needs: its keys and its known_hosts files.
func (r *Runner) prepare(t Target) error {
	r.auth.addTarget(t)
	if err := r.auth.usable(t); err != nil {
		return err
	}
	files := r.knownHosts(t)
	if r.hk[hkKey(files)] != nil {
		return nil
	}
	hk, err := newHostKeys(files, r.p.AcceptNew)
	if err != nil {
		return err
	}
	hk.seen, hk.recorded = r.p.OnHostKey, r.p.OnNewHostKey
	r.hk[hkKey(files)] = hk
	return nil
}

func (r *Runner) knownHosts(t Target) []string {
	if t.KnownHosts != nil {
		return t.KnownHosts
	}
	return []string{ExpandHome(r.p.KnownHosts)}
}

func hkKey(files []string) string { return strings.Join(files, "\x00") }

// hostKeysFor is t's known_hosts database (prepared by New).
func (r *Runner) hostKeysFor(t Target) *hostKeys { return r.hk[hkKey(r.knownHosts(t))] }

// jumps are t's ProxyJump hops, outermost first.
func (r *Runner) jumps(t Target) []Target {
	if t.Jumps != nil {
		return t.Jumps
	}
	if r.p.Jump != nil {
		return []Target{*r.p.Jump}
	}
	return nil
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

// conn returns the live connection to node, dialing (through its jump
// hosts, each dialed once and shared) if there is none or the last one died.
func (r *Runner) conn(ctx context.Context, node string) (*conn, error) {
	t, ok := r.nodes[node]
	if !ok {
		return nil, fmt.Errorf("unknown node %q: not in the cluster file", node)
	}
	var (
		via  *ssh.Client
		prev *Target
		key  string
	)
	for _, hop := range r.jumps(t) {
		key += "\x00" + hop.User + "@" + hop.Addr()
		c, err := r.connTo(ctx, key, hop, via, prev)
		if err != nil {
			return nil, fmt.Errorf("reach node %s through %s: %w", node, hop.Name, err)
		}
		via, prev = c.client, &hop
	}
	return r.connTo(ctx, node, t, via, prev)
}

// connTo returns the live connection in slot key to t, dialed through via
// (the jump host jump) when non-nil.
func (r *Runner) connTo(ctx context.Context, key string, t Target, via *ssh.Client, jump *Target) (*conn, error) {
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
	c, err := r.dial(ctx, t, via, jump, r.redialTimeout(s.c))
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

// Target is how node is reached after OpenSSH's configuration and the
// cluster file were applied (`etcd-dr check` shows it), with its hops.
func (r *Runner) Target(node string) (Target, bool) {
	t, ok := r.nodes[node]
	if ok {
		t.Jumps = r.jumps(t)
	}
	return t, ok
}
