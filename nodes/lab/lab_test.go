package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"go.uber.org/goleak"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// serveEnv makes the test binary act as `etcd-dr lab serve`, so the
// detached-daemon test re-executes a real daemon.
const serveEnv = "ETCD_DR_LAB_TEST_SERVE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(serveEnv); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		err := Serve(ctx, Options{Dir: dir, ControlPlanes: 1, Workers: 1, Block: 2,
			Progress: func(s string) { fmt.Println(s) }})
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func TestDetachedLabOutlivesItsStarterAndDownLeavesNoProcess(t *testing.T) {
	labBinaries(t)
	dir := t.TempDir()
	t.Setenv(serveEnv, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var lines []string
	st, err := Start(ctx, dir, os.Args[0], []string{"-test.run=^$"}, func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(dir) })
	if !st.Running || len(st.Nodes) != 2 || st.DaemonPID == os.Getpid() {
		t.Fatalf("status after start: %+v; want a running daemon in another process with 2 nodes", st)
	}
	if len(lines) == 0 {
		t.Error("Start relayed no progress line from the daemon")
	}
	if err := Down(dir); err != nil {
		t.Fatal(err)
	}
	after, err := ReadStatus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after.Running || pidAlive(st.DaemonPID) {
		t.Fatalf("after down: running=%v, daemon pid %d alive=%v", after.Running, st.DaemonPID, pidAlive(st.DaemonPID))
	}
	assertNoLabProcess(t, dir)
}

// upLab starts a lab of cps control-plane nodes and workers in a temp dir
// and tears it down at cleanup, failing the test if any process survives.
func upLab(t *testing.T, cps, workers, block int) *Lab {
	t.Helper()
	return upLabWith(t, Options{ControlPlanes: cps, Workers: workers, Block: block})
}

// upLabWith is upLab with any options; Dir and Progress are filled in. It
// claims opts.Block for t, which it makes parallel.
func upLabWith(t *testing.T, opts Options) *Lab {
	t.Helper()
	labtest.Block(t, opts.Block)
	labBinaries(t)
	dir := t.TempDir()
	cps, workers := opts.ControlPlanes, opts.Workers
	opts.Dir, opts.Progress = dir, func(s string) { t.Log(s) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	l, err := Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lab up (%d cp, %d workers) in %s", cps, workers, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
		assertNoLabProcess(t, dir)
	})
	return l
}

// assertNoLabProcess checks every pid the timeline recorded is gone.
func assertNoLabProcess(t *testing.T, dir string) {
	t.Helper()
	evs, err := ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range evs {
		if e.PID == 0 {
			continue
		}
		checked++
		if pidAlive(e.PID) {
			t.Errorf("after lab down, pid %d (%s %s on %s) still runs", e.PID, e.Kind, e.Pod, e.Node)
		}
	}
	if checked == 0 {
		t.Error("the timeline recorded no pid: nothing was checked")
	}
}

// dialNode connects to node's SSH server as an operator would: the lab's
// key, strict known_hosts.
func dialNode(t *testing.T, l *Lab, node string) (*ssh.Client, error) {
	t.Helper()
	var addr string
	for _, n := range l.state.Nodes {
		if n.Name == node {
			addr = n.SSHAddr
		}
	}
	signer, err := loadSigner(filepath.Join(l.Dir(), identityFile))
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(filepath.Join(l.Dir(), knownHostFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hk, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("dial %s (%s): %w", node, addr, err)
	}
	return c, nil
}

// sshRun runs line on node over SSH with the lab's key and known_hosts.
func sshRun(t *testing.T, l *Lab, node, line string) (string, error) {
	t.Helper()
	c, err := dialNode(t, l, node)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(line)
	return string(out), err
}

func TestLabNodesLookLikeRealKubeadmNodesOverSSH(t *testing.T) {
	l := upLab(t, 3, 2, 0)
	tok := l.Tokens().Admin
	tests := []struct {
		name, node, line, want string
	}{
		{"cp-1 lists only its own four static pod manifests", "cp-1", "ls /etc/kubernetes/manifests",
			"etcd.yaml\nkube-apiserver.yaml\nkube-controller-manager.yaml\nkube-scheduler.yaml\n"},
		{"cp-1 sees exactly one kube-apiserver process, its own", "cp-1", "pgrep -c -x kube-apiserver", "1\n"},
		{"w-1 has no manifests", "w-1", "ls /etc/kubernetes/manifests 2>/dev/null | wc -l", "0\n"},
		{"w-1 sees no etcd", "w-1", "pgrep -x etcd || echo none", "none\n"},
		{"sudo -n -- works as on a prepared node", "cp-2", "sudo -n -- id -u", "0\n"},
		{"the apiserver answers /readyz when curled from cp-2", "cp-2",
			"curl -sS --cacert /etc/kubernetes/pki/ca.crt -H 'Authorization: Bearer " + tok + "' https://127.0.10.2:6443/readyz", "ok"},
		{"cp-3 has no etcd, etcdctl or etcdutl on its PATH, as a kubeadm host", "cp-3",
			"for t in etcd etcdctl etcdutl; do command -v $t || echo no $t; done", "no etcd\nno etcdctl\nno etcdutl\n"},
		{"nor under sudo", "cp-3", "sudo -n -- etcdutl version 2>&1; echo exit $?", "sudo: etcdutl: command not found\nexit 1\n"},
		{"sudo resets the environment", "cp-3", "FOO=bar sudo -n -- sh -c 'echo ${FOO:-unset} $PATH'", "unset /run/lab/sbin:/sbin:/bin:/usr/sbin:/usr/bin\n"},
		{"cp-3's etcd runs the image's binary, the version kubeadm v1.35 ships", "cp-3",
			"grep -o 'image: .*' /etc/kubernetes/manifests/etcd.yaml; pgrep -c -f '^etcd '", "image: registry.k8s.io/etcd:3.6.6-0\n1\n"},
		{"crictl ps on cp-1 lists its etcd", "cp-1", "crictl ps --name etcd -q | wc -l", "1\n"},
		{"systemctl restart kubelet succeeds on a worker", "w-2", "sudo -n -- systemctl restart kubelet && systemctl is-active kubelet", "active\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sshRun(t, l, tt.node, tt.line)
			if err != nil {
				t.Fatalf("%s on %s: %v\n%s", tt.line, tt.node, err, got)
			}
			if !strings.Contains(got, tt.want) {
				t.Fatalf("%s on %s: got %q, want %q", tt.line, tt.node, got, tt.want)
			}
		})
	}
	t.Run("the written cluster file loads cleanly with the config package", func(t *testing.T) {
		c, diags, err := config.Load(l.ClusterFile())
		if err != nil {
			t.Fatalf("%s: %v", l.ClusterFile(), err)
		}
		for _, d := range diags {
			t.Errorf("warning: %s", d)
		}
		if c.Name != ClusterName || len(c.Nodes) != 5 || len(c.NodesWith(config.RoleEtcd)) != 3 {
			t.Fatalf("cluster %q with %d nodes, %d etcd: want drill, 5, 3", c.Name, len(c.Nodes), len(c.NodesWith(config.RoleEtcd)))
		}
	})
	t.Run("a second lab on the same address block is refused before it starts", func(t *testing.T) {
		_, err := Up(context.Background(), Options{Dir: t.TempDir(), ControlPlanes: 1, SkipSeed: true})
		if err == nil || !strings.Contains(err.Error(), "127.0.10.1:2379 (node cp-1) is in use") {
			t.Fatalf("Up on a busy block: %v; want it refused naming 127.0.10.1:2379", err)
		}
	})
	reportUsage(t, l)
	testFaultKnobs(t, l)
}

// testFaultKnobs runs last on the lab: the knobs leave nodes broken.
func testFaultKnobs(t *testing.T, l *Lab) {
	t.Run("a kubelet held down after its restart is never reported active by systemctl", func(t *testing.T) {
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(l.KubeletDown("w-1"))
		// As systemd reports kubeadm's crash-looping kubelet unit
		// (Restart=always): activating (auto-restart), is-active exit 3.
		got, err := sshRun(t, l, "w-1", "sudo -n -- systemctl restart kubelet; systemctl is-active kubelet; echo exit $?; "+
			"systemctl show kubelet -p ActiveState -p SubState -p Result; systemctl status kubelet >/dev/null; echo status $?")
		must(err)
		if want := "activating\nexit 3\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\nstatus 3\n"; got != want {
			t.Errorf("w-1 held down: got %q, want %q", got, want)
		}
		got, err = sshRun(t, l, "w-2", "systemctl is-active kubelet")
		if err != nil || got != "active\n" {
			t.Errorf("w-2, not held down: %q, %v; want active", got, err)
		}
	})
	t.Run("a changed host key makes strict host-key checking refuse the node", func(t *testing.T) {
		if _, err := l.ChangeHostKey("cp-2"); err != nil {
			t.Fatal(err)
		}
		_, err := sshRun(t, l, "cp-2", "true")
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) || len(ke.Want) == 0 {
			t.Fatalf("ssh to cp-2 after a host key change: %v; want a known_hosts key mismatch", err)
		}
	})
	t.Run("a full disk gives a real ENOSPC inside the node", func(t *testing.T) {
		if err := l.FillDisk(context.Background(), "cp-3", "/var/lib/etcd-full", 64<<10); err != nil {
			t.Fatal(err)
		}
		out, err := sshRun(t, l, "cp-3", "dd if=/dev/zero of=/var/lib/etcd-full/x bs=1024 count=256")
		if err == nil || !strings.Contains(out, "No space left on device") {
			t.Fatalf("dd into a full dir: %v %q; want ENOSPC", err, out)
		}
	})
	t.Run("a hang pattern makes matching commands run until their deadline", func(t *testing.T) {
		if err := l.HangCommands("cp-1", "^etcdutl snapshot restore"); err != nil {
			t.Fatal(err)
		}
		// start is taken before the context: its deadline is what ends the
		// command, so "ended early" is measured from the same instant.
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := l.nodes["cp-1"].sshCommand(ctx, "etcdutl snapshot restore x", nil).Run()
		if err == nil || time.Since(start) < time.Second {
			t.Fatalf("a hung command ended after %s with %v; want it killed at the 1s deadline", time.Since(start), err)
		}
		if out, _ := l.nodes["cp-1"].shell(context.Background(), "pgrep -f '^sleep 2147483647' || echo none"); out != "none\n" {
			t.Fatalf("the hung command's process survived its deadline inside the node: pid %s", out)
		}
		if out, err := sshRun(t, l, "cp-1", "echo fine"); err != nil || out != "fine\n" {
			t.Fatalf("a command not matching the pattern: %q %v", out, err)
		}
	})
	t.Run("a paused SSH server hangs handshakes until resumed", func(t *testing.T) {
		if err := l.PauseSSH("w-2"); err != nil {
			t.Fatal(err)
		}
		if err := sshHandshake(l, "w-2", time.Second); err == nil {
			t.Fatal("an SSH handshake with a paused server completed")
		}
		if err := l.ResumeSSH("w-2"); err != nil {
			t.Fatal(err)
		}
		if err := sshHandshake(l, "w-2", 5*time.Second); err != nil {
			t.Fatalf("after resume: %v", err)
		}
	})
	t.Run("a stopped SSH server refuses connections", func(t *testing.T) {
		if err := l.StopSSH("w-1"); err != nil {
			t.Fatal(err)
		}
		if _, err := sshRun(t, l, "w-1", "true"); err == nil {
			t.Fatal("ssh to w-1 worked after StopSSH")
		}
	})
}

// reportUsage logs the lab's resident memory per component and its CPU
// time, at up and while idle: the budget is 2 cores / 24 GiB.
func reportUsage(t *testing.T, l *Lab) {
	t.Helper()
	rss, ticks0 := podUsage(t, l)
	time.Sleep(5 * time.Second)
	_, ticks1 := podUsage(t, l)
	var total int64
	var parts []string
	for _, pod := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		total += rss[pod]
		parts = append(parts, fmt.Sprintf("%s %d MiB", pod, rss[pod]>>10))
	}
	t.Logf("lab pods: RSS %d MiB (%s); CPU %.1f s since start, %.0f%% of one core while idle",
		total>>10, strings.Join(parts, ", "), float64(ticks0)/100, float64(ticks1-ticks0)/5)
}

// podUsage sums VmRSS (KiB) per pod name and CPU ticks of running pods.
func podUsage(t *testing.T, l *Lab) (map[string]int64, int64) {
	t.Helper()
	rss, ticks := map[string]int64{}, int64(0)
	evs, _ := ReadTimeline(l.Dir())
	for _, e := range evs {
		if e.Kind != EvPodStart || !pidAlive(e.PID) {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.PID)); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				var kb int64
				if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
					rss[e.Pod] += kb
				}
			}
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", e.PID)); err == nil {
			f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
			var u, s int64
			_, _ = fmt.Sscan(f[11], &u)
			_, _ = fmt.Sscan(f[12], &s)
			ticks += u + s
		}
	}
	return rss, ticks
}

// sshHandshake dials node and completes an SSH handshake within d.
func sshHandshake(l *Lab, node string, d time.Duration) error {
	var addr string
	for _, n := range l.Nodes() {
		if n.Name == node {
			addr = n.SSHAddr
		}
	}
	signer, err := loadSigner(filepath.Join(l.Dir(), identityFile))
	if err != nil {
		return err
	}
	hk, err := knownhosts.New(filepath.Join(l.Dir(), knownHostFile))
	if err != nil {
		return err
	}
	conn, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(d))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: hk})
	if err != nil {
		return err
	}
	return ssh.NewClient(c, chans, reqs).Close()
}
