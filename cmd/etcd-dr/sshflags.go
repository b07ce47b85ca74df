package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// sshFlags are the flags of every command that connects to nodes.
type sshFlags struct {
	acceptNew bool
	noAgent   bool
}

func (f *sshFlags) register(c *cobra.Command) {
	c.Flags().BoolVar(&f.acceptNew, "accept-new-host-keys", false, "record host keys of nodes missing from known_hosts; changed keys are always refused")
	c.Flags().BoolVar(&f.noAgent, "no-agent", false, "ignore SSH_AUTH_SOCK: use only ssh.identityFiles")
}

func (f sshFlags) options() nodes.Options {
	return nodes.Options{AcceptNew: f.acceptNew, NoAgent: f.noAgent}
}

// newRunner builds the SSH runner and tells the operator, on stderr, what
// about the SSH setup is worth knowing without stopping anything.
func (f sshFlags) newRunner(cl *config.Cluster, stderr io.Writer) (*nodes.Runner, error) {
	return f.newRunnerOpts(cl, f.options(), stderr)
}

// newRunnerOpts is newRunner with options the flags do not carry (init
// hears every host key).
func (f sshFlags) newRunnerOpts(cl *config.Cluster, opts nodes.Options, stderr io.Writer) (*nodes.Runner, error) {
	var r *nodes.Runner // set before any node is dialed
	// Every key --accept-new-host-keys records is shown, never trusted
	// silently: the operator compares it with the node's own.
	opts.OnNewHostKey = func(node, addr string, key ssh.PublicKey) {
		file := cl.SSH.KnownHosts
		if t, ok := r.Target(node); ok && len(t.KnownHosts) > 0 {
			file = t.KnownHosts[0] // ~/.ssh/config's UserKnownHostsFile
		}
		fmt.Fprintf(stderr, "etcd-dr: recorded the host key of %s (%s) in %s: %s %s; compare it with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the node\n",
			node, addr, file, key.Type(), ssh.FingerprintSHA256(key))
	}
	r, err := nodes.NewRunner(cl, opts)
	if err != nil {
		return nil, err
	}
	for _, w := range r.Warnings() {
		fmt.Fprintf(stderr, "etcd-dr: warning: %s\n", w)
	}
	return r, nil
}
