package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// bareSSH is the floor of the fan-out: the least a Go tool must do to run a
// command on every endpoint with strict host-key checking. It reads the same
// key and known_hosts as etcd-dr, dials every host once, at most concurrency
// at a time, runs the command in one session, collects its output and
// hangs up. It has none of etcd-dr's safety: no remote timeout wrapper, no
// keepalive, no redial, no streaming, no classification of failures.
func (e *endpoints) bareSSH(ctx context.Context, concurrency int) (time.Duration, error) {
	return e.bare(ctx, concurrency, shortCommand)
}

// wrappedCommand is the line etcd-dr's Runner sends for shortCommand (see
// wrap in nodes/quote.go): it reports the remote shell's pid and runs the
// command under coreutils timeout(1), so it ends on the node even when the
// bastion is gone. The bare client sending this same line measures the
// client's cost alone: the endpoints then do the same work for both.
const wrappedCommand = `echo "etcd-dr-pid bench $$" >&2; exec timeout -k 5 124 ` + shortCommand

// bareWrapped is the bare client sending etcd-dr's remote command line.
func (e *endpoints) bareWrapped(ctx context.Context, concurrency int) (time.Duration, error) {
	return e.bare(ctx, concurrency, wrappedCommand)
}

func (e *endpoints) bare(ctx context.Context, concurrency int, command string) (time.Duration, error) {
	start := time.Now()
	cfg, err := e.bareConfig()
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, concurrency)
	errs := make([]error, len(e.targets))
	var wg sync.WaitGroup
	for i, t := range e.targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = bareRun(ctx, cfg, t.Addr(), command)
		})
	}
	wg.Wait()
	d := time.Since(start)
	for i, err := range errs {
		if err != nil {
			return d, fmt.Errorf("bare x/crypto/ssh: %s: %w", e.targets[i].Name, err)
		}
	}
	return d, nil
}

func bareRun(ctx context.Context, cfg *ssh.ClientConfig, addr, command string) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
	if err != nil {
		nc.Close()
		return err
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	var out, errOut bytes.Buffer
	sess.Stdout, sess.Stderr = &out, &errOut
	if err := sess.Run(command); err != nil {
		return fmt.Errorf("%w: %s", err, errOut.String())
	}
	// Exit 0 is all etcd-dr's row checks too. (Under a load average
	// of 36 one endpoint once answered exit 0 with no output: the
	// in-process server gives a finished command's pipes 2 s.)
	return nil
}

// bareConfig is the bare client's configuration: the endpoints' key and
// strict known_hosts, as every floor row dials with.
func (e *endpoints) bareConfig() (*ssh.ClientConfig, error) {
	pem, err := os.ReadFile(e.key)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, err
	}
	hostKeys, err := knownhosts.New(e.knownHosts)
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{User: e.user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: time.Minute}, nil
}
