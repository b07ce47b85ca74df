package nodes

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"

	"github.com/etcd-dr/etcd-dr/config"
)

// openSSH resolves hosts through OpenSSH's configuration (ssh -G), once per
// host, so that etcd-dr reaches each node the way `ssh ADDRESS` would.
type openSSH struct {
	file string // ssh -F; "" = OpenSSH's own files
	ssh  config.SSH

	mu    sync.Mutex
	cache map[string]SSHConfig
}

func (o *openSSH) resolve(ctx context.Context, host string) (SSHConfig, error) {
	o.mu.Lock()
	c, ok := o.cache[host]
	o.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := ResolveSSHConfig(ctx, o.file, host)
	if err != nil {
		return c, err
	}
	o.mu.Lock()
	o.cache[host] = c
	o.mu.Unlock()
	return c, nil
}

// node applies what OpenSSH says about t.Host to t: the cluster file's keys
// (a node's own port and user, and every ssh key it set) win.
func (o *openSSH) node(ctx context.Context, t *Target, ownPort, ownUser bool) error {
	c, err := o.resolve(ctx, t.Host)
	if err != nil {
		return err
	}
	if c.HostName != "" {
		t.Host = c.HostName
	}
	if !ownPort && !o.ssh.Given.Port && c.Port != 0 {
		t.Port = c.Port
	}
	if !ownUser && !o.ssh.Given.User && c.User != "" {
		t.User = c.User
	}
	o.keys(t, c)
	if o.ssh.JumpHost == "" && c.ProxyJump != "" {
		jumps, err := o.chain(ctx, c.ProxyJump, 0)
		if err != nil {
			return fmt.Errorf("ProxyJump %s for %s in OpenSSH's configuration: %w", c.ProxyJump, t.Name, err)
		}
		t.Jumps = jumps
	}
	return nil
}

// keys sets t's identity, certificate and known_hosts files from c, where
// the cluster file did not set them.
func (o *openSSH) keys(t *Target, c SSHConfig) {
	if !o.ssh.Given.IdentityFiles && len(c.Identities) > 0 {
		t.Identities = c.Identities
	}
	t.Certificates = c.Certificate
	user := c.UserKnownHosts
	if o.ssh.Given.KnownHosts || len(user) == 0 {
		user = []string{ExpandHome(o.ssh.KnownHosts)}
	}
	t.KnownHosts = append(append([]string(nil), user...), c.GlobalKnownHosts...)
}

// maxJumps bounds a ProxyJump chain, and a loop of hops naming each other.
const maxJumps = 8

// chain resolves "hop[,hop...]" into targets, outermost first. Each hop is
// itself resolved through OpenSSH's configuration (ssh://[user@]host[:port],
// so the hop's own user and port win, as with ssh -J); the first hop's own
// ProxyJump comes before it, as OpenSSH's ssh -W to that hop would follow it.
func (o *openSSH) chain(ctx context.Context, spec string, depth int) ([]Target, error) {
	hops := strings.Split(spec, ",")
	if depth+len(hops) > maxJumps {
		return nil, fmt.Errorf("more than %d jump hosts (a loop of ProxyJump?)", maxJumps)
	}
	var out []Target
	for i, h := range hops {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, errors.New("an empty hop")
		}
		uri := h
		if !strings.HasPrefix(uri, "ssh://") {
			uri = "ssh://" + uri
		}
		c, err := o.resolve(ctx, uri)
		if err != nil {
			return nil, err
		}
		if i == 0 && c.ProxyJump != "" {
			before, err := o.chain(ctx, c.ProxyJump, depth+len(hops))
			if err != nil {
				return nil, err
			}
			out = append(out, before...)
		}
		t := Target{Name: "jump host " + strings.TrimPrefix(h, "ssh://"), Host: c.HostName, Port: c.Port, User: c.User}
		if o.ssh.Given.User && !strings.Contains(h, "@") && !o.setsUser(ctx, uri, c) {
			t.User = o.ssh.User // as for ssh.jumpHost: the file's login, unless the hop's own Host block names one
		}
		o.keys(&t, c)
		out = append(out, t)
	}
	return out, nil
}

// setsUser says whether OpenSSH's configuration names host's User itself
// (a hop's `User jumper`), rather than leaving OpenSSH's default (the
// local login): what ssh -G prints without any configuration differs.
func (o *openSSH) setsUser(ctx context.Context, host string, c SSHConfig) bool {
	def, err := ResolveSSHConfig(ctx, "/dev/null", host)
	return err == nil && c.User != def.User
}

// resolveNodes applies OpenSSH's configuration to every node of p (in
// parallel: ssh -G takes ~20 ms). No ssh client is a warning, not an error:
// the cluster file alone then says how to reach each node.
func resolveNodes(ctx context.Context, c *config.Cluster, p *Params) (warnings []string, err error) {
	if c.SSH.Config == config.SSHConfigNone {
		return nil, nil
	}
	o := &openSSH{file: c.SSH.Config, ssh: c.SSH, cache: map[string]SSHConfig{}}
	if _, err := exec.LookPath("ssh"); err != nil {
		return []string{fmt.Sprintf("%v (%v): reaching every node with the cluster file's ssh settings alone, without ~/.ssh/config", ErrNoSSHClient, err)}, nil
	}
	own := map[string]config.Node{}
	for _, n := range c.Nodes {
		own[n.Name] = n
	}
	errs := make([]error, len(p.Nodes))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i := range p.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n := own[p.Nodes[i].Name]
			if err := o.node(ctx, &p.Nodes[i], n.Port != 0, n.User != ""); err != nil {
				errs[i] = fmt.Errorf("node %s (%s): %w; fix OpenSSH's configuration, or set ssh.config: none in %s to read none", n.Name, n.Address, err, c.File)
			}
		}()
	}
	wg.Wait()
	if !c.SSH.Given.IdentityFiles {
		// OpenSSH's IdentityFile list (its defaults included) replaces the
		// cluster file's default keys, and is read leniently as ssh does.
		p.IdentityFiles = nil
	}
	return nil, errors.Join(errs...)
}
