package nodetest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SSHDPath is Debian's OpenSSH server (package openssh-server).
const SSHDPath = "/usr/sbin/sshd"

// SSHD is a real OpenSSH sshd, run as the current user on a loopback port
// with its own config, host key and authorized_keys under a temp dir.
type SSHD struct {
	Addr    string
	HostKey Key
	Dir     string
	cmd     *exec.Cmd
	log     *syncBuffer
}

// StartSSHD starts sshd accepting the authorized keys. extra lines (e.g.
// "AllowTcpForwarding no") come first in sshd_config, so they override the
// defaults: sshd keeps the first value it reads for a keyword. It stops at
// test cleanup, and its log is printed if the test failed.
func StartSSHD(t testing.TB, authorized []Key, extra ...string) *SSHD {
	t.Helper()
	if _, err := os.Stat(SSHDPath); err != nil {
		t.Fatalf("OpenSSH server missing (%v): apt-get install openssh-server", err)
	}
	if os.Geteuid() == 0 {
		// As root, sshd insists on its privilege separation directory.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := &SSHD{Dir: t.TempDir(), HostKey: NewKey(t), log: &syncBuffer{}}
	hostKeyFile := d.HostKey.WriteFile(t, d.Dir, "ssh_host_ed25519_key", 0o600, "")
	var auth strings.Builder
	for _, k := range authorized {
		auth.WriteString(k.Public() + "\n")
	}
	authFile := filepath.Join(d.Dir, "authorized_keys")
	if err := os.WriteFile(authFile, []byte(auth.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	d.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := append([]string(nil), extra...)
	conf = append(conf,
		"Port "+strconv.Itoa(port),
		"ListenAddress 127.0.0.1",
		"HostKey "+hostKeyFile,
		"AuthorizedKeysFile "+authFile,
		"PidFile "+filepath.Join(d.Dir, "sshd.pid"),
		"UsePAM no",
		"StrictModes no",
		"PermitRootLogin yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"AllowTcpForwarding yes",
		"MaxSessions 64",
		"LogLevel VERBOSE",
	)
	confFile := filepath.Join(d.Dir, "sshd_config")
	if err := os.WriteFile(confFile, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(SSHDPath, "-D", "-e", "-f", confFile)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t) })
	d.waitListening(t)
	return d
}

func (d *SSHD) stop(t testing.TB) {
	t.Helper()
	for _, pid := range d.ConnPIDs() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range d.ConnPIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = d.cmd.Wait()
	if t.Failed() {
		t.Logf("sshd log:\n%s", d.log.String())
	}
}

func (d *SSHD) waitListening(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", d.Addr, err, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log is sshd's log so far.
func (d *SSHD) Log() string { return d.log.String() }

// ConnPIDs lists the descendants of the listening sshd: the per-connection
// sshd processes (monitor and unprivileged child) and their sessions.
func (d *SSHD) ConnPIDs() []int { return Descendants(d.cmd.Process.Pid) }

// StopConnections sends SIGSTOP to every per-connection process: clients
// see a live TCP connection that says nothing. The returned func resumes.
func (d *SSHD) StopConnections(t testing.TB) (resume func()) {
	t.Helper()
	pids := d.ConnPIDs()
	if len(pids) == 0 {
		t.Fatal("no sshd connection process to stop")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("SIGSTOP %d: %v", pid, err)
		}
	}
	return func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	}
}

// Descendants lists all live descendants of pid, from /proc.
func Descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(p); ok {
			children[ppid] = append(children[ppid], p)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// ProcessGone reports whether pid no longer runs (a zombie counts as gone).
func ProcessGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no such process
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

// WaitGone fails the test unless pid is gone within d.
func WaitGone(t testing.TB, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ProcessGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs after %s", pid, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for the sshd process's writers and the
// test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
