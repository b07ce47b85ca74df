package nodes

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
)

// Where a resolved SSH setting came from.
const (
	FromNode        = "cluster file (node)" // the node's own port or user
	FromClusterFile = "cluster file"        // the ssh section
	FromSSHConfig   = "ssh_config"          // OpenSSH's configuration (ssh -G)
	FromDefault     = "default"             // neither set it
)

// Setting is one resolved value and where it came from.
type Setting struct {
	Value string `json:"value"`
	From  string `json:"from"`
}

// Resolution is how one node will be reached, as the Runner will dial it,
// with each value's origin: what `check --print-config` and `plan` show.
type Resolution struct {
	Node         string  `json:"node"`
	Address      string  `json:"address"` // as the cluster file writes it
	HostName     Setting `json:"hostName"`
	Port         Setting `json:"port"`
	User         Setting `json:"user"`
	IdentityFile Setting `json:"identityFile"` // comma-separated; "none" = the agent only
	ProxyJump    Setting `json:"proxyJump"`    // comma-separated hops; "none"
	KnownHosts   Setting `json:"knownHosts"`   // comma-separated files
}

// Explain resolves every node of c the way NewRunner does (ssh -G per node
// and per hop) and says where each value came from. It opens no connection
// and reads no key or known_hosts file: it needs neither to exist. A value
// OpenSSH's configuration gives that equals OpenSSH's own default (ssh -G
// -F /dev/null) counts as the default.
func Explain(ctx context.Context, c *config.Cluster) ([]Resolution, []string, error) {
	p, warnings, err := clusterParams(c, Options{NoAgent: true})
	if err != nil {
		return nil, warnings, err
	}
	useConfig := c.SSH.Config != config.SSHConfigNone
	if _, err := exec.LookPath("ssh"); err != nil {
		useConfig = false
	}
	own := map[string]config.Node{}
	for _, n := range c.Nodes {
		own[n.Name] = n
	}
	out := make([]Resolution, 0, len(p.Nodes))
	for _, t := range p.Nodes {
		n := own[t.Name]
		var def SSHConfig // OpenSSH's defaults for this host
		var dt Target     // what those defaults alone would give (openSSH.keys)
		if useConfig {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			def, err = ResolveSSHConfig(ctx, "/dev/null", n.Address)
			cancel()
			if err != nil {
				return nil, warnings, fmt.Errorf("node %s: %w", n.Name, err)
			}
			(&openSSH{ssh: c.SSH}).keys(&dt, def)
		}
		fromConfig := func(differs bool) string {
			if useConfig && differs {
				return FromSSHConfig
			}
			return FromDefault
		}
		r := Resolution{Node: t.Name, Address: n.Address}
		r.HostName = Setting{t.Host, FromClusterFile}
		if t.Host != n.Address {
			r.HostName.From = FromSSHConfig
		}
		r.Port = Setting{Value: strconv.Itoa(t.Port)}
		switch {
		case n.Port != 0:
			r.Port.From = FromNode
		case c.SSH.Given.Port:
			r.Port.From = FromClusterFile
		default:
			r.Port.From = fromConfig(def.Port != 0 && t.Port != def.Port)
		}
		r.User = Setting{Value: t.User}
		switch {
		case n.User != "":
			r.User.From = FromNode
		case c.SSH.Given.User:
			r.User.From = FromClusterFile
		default:
			r.User.From = fromConfig(def.User != "" && t.User != def.User)
		}
		ids := t.Identities
		if ids == nil {
			ids = p.IdentityFiles
		}
		r.IdentityFile = Setting{Value: listOrNone(ids)}
		switch {
		case c.SSH.Given.IdentityFiles:
			r.IdentityFile.From = FromClusterFile
		default:
			r.IdentityFile.From = fromConfig(!slices.Equal(ids, dt.Identities))
		}
		r.ProxyJump = Setting{Value: "none", From: FromDefault}
		switch {
		case t.Jumps != nil:
			r.ProxyJump = Setting{Value: hops(t.Jumps), From: FromSSHConfig}
		case p.Jump != nil:
			r.ProxyJump = Setting{Value: hops([]Target{*p.Jump}), From: FromClusterFile}
		}
		kh := t.KnownHosts
		if kh == nil {
			kh = []string{p.KnownHosts}
		}
		r.KnownHosts = Setting{Value: listOrNone(kh)}
		switch {
		case c.SSH.Given.KnownHosts:
			r.KnownHosts.From = FromClusterFile
		default:
			r.KnownHosts.From = fromConfig(!slices.Equal(kh, dt.KnownHosts))
		}
		out = append(out, r)
	}
	return out, warnings, nil
}

func hops(ts []Target) string {
	s := make([]string, len(ts))
	for i, h := range ts {
		s[i] = h.User + "@" + net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
	}
	return strings.Join(s, ",")
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}
