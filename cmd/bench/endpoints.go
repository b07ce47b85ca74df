package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/sshserver"
)

// The fan-out endpoints run in a child process (this binary, re-executed
// with endpointsEnv set), never in the process that times a tool: every
// tool then pays the same server cost, on the same cores, and the servers'
// CPU is measured apart from the clients'.
const (
	endpointsEnv = "ETCD_DR_BENCH_ENDPOINTS" // "N DIR BLOCK MODE": serve N endpoints on 127.BLOCK.x.y, files in DIR
	targetsFile  = "targets"                 // "name host port" per line
)

func init() {
	if v := os.Getenv(endpointsEnv); v != "" {
		os.Exit(serveEndpoints(v))
	}
}

// endpoints are SSH servers on distinct loopback addresses sharing one host
// key and one client key, written once for all tools.
type endpoints struct {
	child      *exec.Cmd
	stdin      io.WriteCloser
	targets    []nodes.Target
	dir        string
	key        string // client private key file
	knownHosts string
	user       string
}

// Endpoint modes: what the endpoints' commands find on their PATH.
const (
	modePlain = "plain" // the host's own commands (fan-out runs uptime)
	modeFlush = "flush" // a canned systemctl that answers step 5's commands (flushSystemctl)
)

func startEndpoints(n int) (*endpoints, error) { return startEndpointsOn(n, fanoutBlock, modePlain) }

func startEndpointsOn(n, block int, mode string) (*endpoints, error) {
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
	self, err := os.Executable()
	if err != nil {
		return e, err
	}
	e.child = exec.Command(self)
	e.child.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s %d %s", endpointsEnv, n, dir, block, mode))
	e.child.Stderr = os.Stderr
	e.child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := e.child.StdoutPipe()
	if err != nil {
		return e, err
	}
	if e.stdin, err = e.child.StdinPipe(); err != nil {
		return e, err
	}
	if err := e.child.Start(); err != nil {
		return e, fmt.Errorf("start the endpoint process: %w", err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		return e, fmt.Errorf("the endpoint process did not start %d endpoints: %q", n, line)
	}
	b, err := os.ReadFile(filepath.Join(dir, targetsFile))
	if err != nil {
		return e, err
	}
	for l := range strings.Lines(string(b)) {
		var t nodes.Target
		if _, err := fmt.Sscan(l, &t.Name, &t.Host, &t.Port); err != nil {
			return e, fmt.Errorf("%s: %q: %w", targetsFile, l, err)
		}
		t.User = e.user
		e.targets = append(e.targets, t)
	}
	return e, nil
}

// serverCPU is the CPU time the endpoint process and the commands it ran
// have used so far.
func (e *endpoints) serverCPU() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.child.Process.Pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var ticks float64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14–17)
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / 100, nil // USER_HZ is 100 on Linux
}

func (e *endpoints) close() {
	if e.child != nil && e.child.Process != nil {
		e.stdin.Close() // the child serves until its stdin closes
		e.child.Wait()
	}
	os.RemoveAll(e.dir)
}

// clientCPU is the CPU time of this process and its waited-for children.
func clientCPU() float64 {
	var self, kids unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &self)
	_ = unix.Getrusage(unix.RUSAGE_CHILDREN, &kids)
	sec := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return sec(self.Utime) + sec(self.Stime) + sec(kids.Utime) + sec(kids.Stime)
}

// serveEndpoints is the endpoint process: it writes the keys, starts the
// servers, writes known_hosts and the targets, says "ready" and serves
// until stdin closes.
func serveEndpoints(spec string) int {
	var n, block int
	var dir, mode string
	if _, err := fmt.Sscan(spec, &n, &dir, &block, &mode); err != nil {
		fmt.Fprintf(os.Stderr, "bench endpoints: %s=%q: %v\n", endpointsEnv, spec, err)
		return 2
	}
	hostKey, clientPub, err := writeKeys(filepath.Join(dir, "id_ed25519"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench endpoints:", err)
		return 1
	}
	var kh, targets strings.Builder
	var servers []*sshserver.Server
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for i := range n {
		addr := fmt.Sprintf("127.%d.%d.%d:0", block, i/250, i%250+1)
		cfg := sshserver.Config{Addr: addr, HostKeys: []ssh.Signer{hostKey}, AuthorizedKeys: []ssh.PublicKey{clientPub},
			Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench endpoints: "+format+"\n", args...) }}
		if mode == modeFlush {
			if cfg.Command, err = flushNode(dir, i); err != nil {
				fmt.Fprintf(os.Stderr, "bench endpoints: endpoint %d: %v\n", i, err)
				return 1
			}
		}
		s, err := sshserver.Start(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench endpoints: endpoint %d: %v\n", i, err)
			return 1
		}
		servers = append(servers, s)
		host, port := splitAddr(s.Addr())
		fmt.Fprintf(&targets, "h%04d %s %d\n", i, host, port)
		fmt.Fprintf(&kh, "[%s]:%d %s", host, port, ssh.MarshalAuthorizedKey(hostKey.PublicKey()))
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(kh.String()), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "bench endpoints:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, targetsFile), []byte(targets.String()), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "bench endpoints:", err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

func writeKeys(keyFile string) (ssh.Signer, ssh.PublicKey, error) {
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
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, nil, err
	}
	pub, err := ssh.NewPublicKey(clientPub)
	return hostKey, pub, err
}

func splitAddr(addr string) (string, int) {
	i := strings.LastIndexByte(addr, ':')
	var port int
	fmt.Sscan(addr[i+1:], &port)
	return addr[:i], port
}
