package nodetest

import (
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
	"golang.org/x/crypto/ssh"
)

// Node is an in-process SSH node (nodes/sshserver) on a loopback port.
type Node struct {
	Name    string
	Server  *sshserver.Server
	HostKey Key
}

// StartNode starts an in-process node that accepts client. mod, when not
// nil, adjusts the server config before Start. It closes at test cleanup.
func StartNode(t testing.TB, name string, client ssh.PublicKey, mod func(*sshserver.Config)) *Node {
	t.Helper()
	hk := NewKey(t)
	cfg := sshserver.Config{
		Addr:           "127.0.0.1:0",
		HostKeys:       []ssh.Signer{hk.Signer},
		AuthorizedKeys: []ssh.PublicKey{client},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := sshserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &Node{Name: name, Server: srv, HostKey: hk}
}

// Addr is the node's host:port.
func (n *Node) Addr() string { return n.Server.Addr() }
