package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// fanoutBlock is the second octet of the fan-out endpoints (127.65.x.y):
// inside this benchmark's lab blocks 60–69, so parallel labs never collide.
const fanoutBlock = 65

// shortCommand is what every tool runs on every endpoint.
const shortCommand = "uptime"

// endpoints are in-process SSH servers on distinct loopback addresses
// sharing one host key and one client key, written once for all tools.
type endpoints struct {
	servers    []*sshserver.Server
	targets    []nodes.Target
	dir        string
	key        string // client private key file
	knownHosts string
	user       string
}

func startEndpoints(n int) (*endpoints, error) {
	dir, err := os.MkdirTemp("", "etcd-dr-bench-fanout-")
	if err != nil {
		return nil, err
	}
	e := &endpoints{dir: dir, key: filepath.Join(dir, "id_ed25519"), knownHosts: filepath.Join(dir, "known_hosts")}
	u, err := user.Current()
	if err != nil {
		return e, err
	}
	e.user = u.Username
	hostKey, clientPub, err := e.writeKeys()
	if err != nil {
		return e, err
	}
	var kh strings.Builder
	for i := range n {
		addr := fmt.Sprintf("127.%d.%d.%d:0", fanoutBlock, i/250, i%250+1)
		s, err := sshserver.Start(sshserver.Config{Addr: addr, HostKeys: []ssh.Signer{hostKey}, AuthorizedKeys: []ssh.PublicKey{clientPub}})
		if err != nil {
			return e, fmt.Errorf("endpoint %d: %w", i, err)
		}
		e.servers = append(e.servers, s)
		host, port := splitAddr(s.Addr())
		e.targets = append(e.targets, nodes.Target{Name: fmt.Sprintf("h%04d", i), Host: host, Port: port, User: e.user})
		fmt.Fprintf(&kh, "[%s]:%d %s", host, port, ssh.MarshalAuthorizedKey(hostKey.PublicKey()))
	}
	return e, os.WriteFile(e.knownHosts, []byte(kh.String()), 0o600)
}

func (e *endpoints) writeKeys() (ssh.Signer, ssh.PublicKey, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, nil, err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(e.key, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, nil, err
	}
	pub, err := ssh.NewPublicKey(clientPub)
	return hostKey, pub, err
}

func (e *endpoints) close() {
	for _, s := range e.servers {
		s.Close()
	}
	os.RemoveAll(e.dir)
}

func splitAddr(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	var port int
	fmt.Sscan(addr[i+1:], &port)
	return addr[:i], port
}

// fanout runs shortCommand on every endpoint with etcd-dr's Runner,
// parallel-ssh and ansible, one after the other on the same endpoints.
func fanout(ctx context.Context, c options) ([]Row, error) {
	e, err := startEndpoints(c.Hosts)
	defer e.close()
	if err != nil {
		return nil, err
	}
	ours, err := e.runner(ctx, c.Concurrency)
	if err != nil {
		return nil, err
	}
	pssh, perr := e.pssh(ctx, c.Concurrency)
	ans, aerr := e.ansible(ctx, c.Concurrency)
	n := float64(c.Hosts)
	rate := func(d time.Duration) float64 { return n / d.Seconds() }
	rows := []Row{
		{Name: fmt.Sprintf("fan-out %d hosts: wall time", c.Hosts), Value: ours.Seconds(), Unit: "s",
			Goal: "< 10 s", Met: ours < 10*time.Second, Measured: true},
		peerRow(fmt.Sprintf("fan-out %d hosts vs parallel-ssh -p %d", c.Hosts, c.Concurrency), rate(ours), "parallel-ssh", pssh, perr, rate, 5),
		peerRow(fmt.Sprintf("fan-out %d hosts vs ansible -m raw -f %d", c.Hosts, c.Concurrency), rate(ours), "ansible", ans, aerr, rate, 20),
	}
	return rows, nil
}

func peerRow(name string, ours float64, peer string, d time.Duration, err error, rate func(time.Duration) float64, want float64) Row {
	r := Row{Name: name, Value: ours, Unit: "hosts/s", Peer: peer, Goal: fmt.Sprintf("≥ %.0f×", want)}
	if err != nil {
		r.Note = err.Error()
		return r
	}
	r.PeerValue = rate(d)
	r.Ratio = ratio(r.Value, r.PeerValue)
	r.Met, r.Measured = r.Ratio >= want, true
	return r
}

func (e *endpoints) runner(ctx context.Context, concurrency int) (time.Duration, error) {
	r, err := nodes.New(nodes.Params{Nodes: e.targets, IdentityFiles: []string{e.key}, KnownHosts: e.knownHosts,
		ConnectTimeout: time.Minute, CommandTimeout: 2 * time.Minute, Concurrency: concurrency})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	names := make([]string, len(e.targets))
	for i, t := range e.targets {
		names[i] = t.Name
	}
	start := time.Now()
	res := r.FanOut(ctx, names, func(string) nodes.Cmd { return nodes.Cmd{Script: shortCommand} }, nil)
	d := time.Since(start)
	for _, x := range res {
		if !x.OK() {
			return d, fmt.Errorf("etcd-dr fan-out: %s: exit %d: %v %s", x.Node, x.ExitCode, x.Err, x.Stderr)
		}
	}
	return d, nil
}

// sshOpts make OpenSSH (under pssh and ansible) use exactly the benchmark's
// key and known_hosts and nothing from ~/.ssh.
func (e *endpoints) sshOpts() []string {
	return []string{"-F", "/dev/null", "-i", e.key, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + e.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no"}
}

func (e *endpoints) pssh(ctx context.Context, concurrency int) (time.Duration, error) {
	var hosts strings.Builder
	for _, t := range e.targets {
		fmt.Fprintf(&hosts, "%s:%d\n", t.Host, t.Port)
	}
	hostsFile := filepath.Join(e.dir, "pssh-hosts")
	if err := os.WriteFile(hostsFile, []byte(hosts.String()), 0o600); err != nil {
		return 0, err
	}
	args := []string{"-h", hostsFile, "-p", fmt.Sprint(concurrency), "-t", "120", "-l", e.user,
		"-x", strings.Join(e.sshOpts(), " "), shortCommand}
	return timePeer(ctx, "parallel-ssh", args, nil, "[SUCCESS]", len(e.targets))
}

func (e *endpoints) ansible(ctx context.Context, concurrency int) (time.Duration, error) {
	var inv strings.Builder
	inv.WriteString("[all]\n")
	for _, t := range e.targets {
		fmt.Fprintf(&inv, "%s ansible_host=%s ansible_port=%d\n", t.Name, t.Host, t.Port)
	}
	invFile := filepath.Join(e.dir, "inventory.ini")
	if err := os.WriteFile(invFile, []byte(inv.String()), 0o600); err != nil {
		return 0, err
	}
	home := filepath.Join(e.dir, "ansible")
	env := []string{"ANSIBLE_HOME=" + home, "ANSIBLE_LOCAL_TEMP=" + filepath.Join(home, "tmp"),
		"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_SSH_ARGS=" + strings.Join(e.sshOpts(), " "),
		"ANSIBLE_PRIVATE_KEY_FILE=" + e.key, "ANSIBLE_REMOTE_USER=" + e.user, "ANSIBLE_NOCOLOR=1",
		// The in-process endpoints serve no PTY; raw would ask for one (-tt).
		"ANSIBLE_SSH_USETTY=False"}
	args := []string{"all", "-i", invFile, "-m", "raw", "-a", shortCommand, "-f", fmt.Sprint(concurrency), "-T", "120"}
	return timePeer(ctx, "ansible", args, env, " | CHANGED", len(e.targets))
}

// timePeer runs a peer tool and checks it reached every host, so a peer
// that fails fast is never reported as fast.
func timePeer(ctx context.Context, tool string, args, env []string, okMark string, want int) (time.Duration, error) {
	if _, err := exec.LookPath(tool); err != nil {
		return 0, fmt.Errorf("%s is not installed: run ./bench/peers.sh (make bench does)", tool)
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if got := strings.Count(string(out), okMark); got != want {
		return d, fmt.Errorf("%s reached %d of %d hosts (%v): %s", tool, got, want, err, tailLines(string(out), 5))
	}
	return d, nil
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], " | ")
}
