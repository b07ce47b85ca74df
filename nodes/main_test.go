package nodes

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testEnv is one client identity and one known_hosts file, shared by the
// servers a test starts.
type testEnv struct {
	dir     string
	client  nodetest.Key
	keyFile string
	known   string
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{dir: t.TempDir(), client: nodetest.NewKey(t)}
	e.keyFile = e.client.WriteFile(t, e.dir, "id_ed25519", 0o600, "")
	e.known = filepath.Join(e.dir, "known_hosts")
	if err := os.WriteFile(e.known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// inproc starts an in-process node whose host key is in known_hosts.
func (e *testEnv) inproc(t *testing.T, name string, mod func(*sshserver.Config)) (Target, *nodetest.Node) {
	t.Helper()
	n := nodetest.StartNode(t, name, e.client.Signer.PublicKey(), mod)
	nodetest.AppendKnownHosts(t, e.known, n.Addr(), n.HostKey.Signer.PublicKey())
	host, port := nodetest.HostPort(t, n.Addr())
	return Target{Name: name, Host: host, Port: port, User: "ops"}, n
}

// sshd starts an OpenSSH sshd whose host key is in known_hosts.
func (e *testEnv) sshd(t *testing.T, name string, extra ...string) (Target, *nodetest.SSHD) {
	t.Helper()
	d := nodetest.StartSSHD(t, []nodetest.Key{e.client}, extra...)
	nodetest.AppendKnownHosts(t, e.known, d.Addr, d.HostKey.Signer.PublicKey())
	host, port := nodetest.HostPort(t, d.Addr)
	return Target{Name: name, Host: host, Port: port, User: nodetest.CurrentUser(t)}, d
}

// runner builds a Runner for targets with the env's key file and
// known_hosts; mod adjusts the parameters.
func (e *testEnv) runner(t testing.TB, targets []Target, mod func(*Params)) *Runner {
	t.Helper()
	p := Params{Nodes: targets, IdentityFiles: []string{e.keyFile}, KnownHosts: e.known}
	if mod != nil {
		mod(&p)
	}
	r, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}
