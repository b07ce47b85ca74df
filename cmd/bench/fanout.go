package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// fanoutBlock is the second octet of the fan-out endpoints (127.140.x.y),
// a block no lab uses.
const fanoutBlock = 140

// shortCommand is what every tool runs on every endpoint. etcd-dr runs it
// as Args, as every step does (a Script adds a remote sh).
const shortCommand = "uptime"

// cost is one tool's run over every endpoint: wall time, and the CPU the
// tool (with its child processes) and the endpoints spent on it.
type cost struct {
	wall           time.Duration
	client, server float64 // CPU seconds
}

func (c cost) String() string {
	return fmt.Sprintf("%.2f s wall, CPU %.2f s client + %.2f s endpoints", c.wall.Seconds(), c.client, c.server)
}

// measure runs one tool and charges it the CPU used meanwhile.
func (e *endpoints) measure(run func() (time.Duration, error)) (cost, error) {
	c0 := clientCPU()
	s0, err := e.serverCPU()
	if err != nil {
		return cost{}, err
	}
	d, err := run()
	s1, serr := e.serverCPU()
	return cost{wall: d, client: clientCPU() - c0, server: s1 - s0}, cmpErr(err, serr)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// fanoutRounds: etcd-dr and the bare client take turns this many times on
// the same endpoints, first one then the other, and each keeps its best
// round, so a neighbour's burst on the shared machine does not decide a
// ratio. The peers (one OpenSSH process per host) take the first
// peerRounds turns only: they are context, 3 to 10 times slower.
const (
	fanoutRounds = 5
	peerRounds   = 2
)

// fanoutGoal: etcd-dr may cost at most this much more than the floor, a
// bare x/crypto/ssh client, in wall time and in client CPU.
const fanoutGoal = 1.15

// fanout runs shortCommand on every endpoint with etcd-dr's Runner and the
// bare x/crypto/ssh client (the floor), and with parallel-ssh and ansible
// for context, taking turns on the same endpoints.
func fanout(ctx context.Context, c options) ([]Row, error) {
	e, err := startEndpoints(c.Hosts)
	defer e.close()
	if err != nil {
		return nil, err
	}
	var ours, bare, wrapped, pssh, ans cost
	var perr, aerr error
	for round := range fanoutRounds {
		tools := []struct {
			name string
			run  func(context.Context, int) (time.Duration, error)
			to   *cost
		}{{"etcd-dr", e.runner, &ours}, {"bare", e.bareSSH, &bare}, {"bare-wrapped", e.bareWrapped, &wrapped}}
		if round%2 == 1 {
			slices.Reverse(tools)
		}
		for _, t := range tools {
			// The label follows every goroutine the tool starts (the SSH
			// handshakes' too): -cpuprofile, then pprof -tagfocus tool=etcd-dr.
			var got cost
			var err error
			pprof.Do(ctx, pprof.Labels("tool", t.name), func(ctx context.Context) {
				got, err = e.measure(func() (time.Duration, error) { return t.run(ctx, c.Concurrency) })
			})
			if err != nil {
				return nil, err
			}
			*t.to = bestCost(*t.to, got)
		}
		fmt.Fprintf(c.Progress, "bench: fan-out round %d: etcd-dr best %v; bare x/crypto/ssh best %v; bare with etcd-dr's command line best %v\n", round+1, ours, bare, wrapped)
		if round >= peerRounds {
			continue
		}
		p, pe := e.measure(func() (time.Duration, error) { return e.pssh(ctx, c.Concurrency) })
		a, ae := e.measure(func() (time.Duration, error) { return e.ansible(ctx, c.Concurrency) })
		fmt.Fprintf(c.Progress, "bench: fan-out round %d: parallel-ssh %v (%v); ansible %v (%v)\n", round+1, p, pe, a, ae)
		pssh, ans = bestCost(pssh, p), bestCost(ans, a)
		perr, aerr = cmpErr(perr, pe), cmpErr(aerr, ae)
	}
	n := float64(c.Hosts)
	rate := func(d time.Duration) float64 { return n / d.Seconds() }
	wall := ratio(ours.wall.Seconds(), bare.wall.Seconds())
	cpu := ratio(ours.client, bare.client)
	rows := []Row{
		{Name: fmt.Sprintf("fan-out %d hosts: wall time vs the floor (bare x/crypto/ssh, -p %d)", c.Hosts, c.Concurrency),
			Value: ours.wall.Seconds(), Unit: "s", Peer: "bare x/crypto/ssh", PeerValue: bare.wall.Seconds(), Ratio: wall,
			Goal: fmt.Sprintf("≤ %.2f×", fanoutGoal), Met: wall <= fanoutGoal, Measured: true,
			Note: "etcd-dr: " + ours.String() + "; bare: " + bare.String()},
		{Name: fmt.Sprintf("fan-out %d hosts: client CPU per host vs the floor (bare x/crypto/ssh)", c.Hosts),
			Value: 1000 * ours.client / n, Unit: "ms", Peer: "bare x/crypto/ssh", PeerValue: 1000 * bare.client / n, Ratio: cpu,
			Goal: fmt.Sprintf("≤ %.2f×", fanoutGoal), Met: cpu <= fanoutGoal, Measured: true},
		{Name: fmt.Sprintf("fan-out %d hosts: wall time vs the bare client sending etcd-dr's remote command line (context)", c.Hosts),
			Value: ours.wall.Seconds(), Unit: "s", Peer: "bare, same line", PeerValue: wrapped.wall.Seconds(),
			Ratio: ratio(ours.wall.Seconds(), wrapped.wall.Seconds()), Measured: true,
			Note: "the endpoints do the same work for both: the client's own cost; bare: " + wrapped.String()},
		{Name: fmt.Sprintf("fan-out %d hosts: client CPU per host vs the bare client sending etcd-dr's remote command line (context)", c.Hosts),
			Value: 1000 * ours.client / n, Unit: "ms", Peer: "bare, same line", PeerValue: 1000 * wrapped.client / n,
			Ratio: ratio(ours.client, wrapped.client), Measured: true},
		peerRow(fmt.Sprintf("fan-out %d hosts vs parallel-ssh -p %d (context)", c.Hosts, c.Concurrency), rate(ours.wall), "parallel-ssh", pssh, perr, rate),
		peerRow(fmt.Sprintf("fan-out %d hosts vs ansible -m raw -f %d (context)", c.Hosts, c.Concurrency), rate(ours.wall), "ansible", ans, aerr, rate),
	}
	// On real hosts the endpoints' work runs on the hosts; here it shares
	// the cores with the client, so the client's own CPU is shown apart.
	for _, p := range []struct {
		name string
		c    cost
		err  error
	}{{"parallel-ssh", pssh, perr}, {"ansible", ans, aerr}} {
		r := Row{Name: fmt.Sprintf("fan-out %d hosts: client CPU per host vs %s (context)", c.Hosts, p.name),
			Value: 1000 * ours.client / n, Unit: "ms", Peer: p.name}
		if p.err == nil {
			r.PeerValue, r.Measured = 1000*p.c.client/n, true
			r.Ratio = ratio(r.Value, r.PeerValue)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func bestCost(a, b cost) cost {
	if a.wall == 0 || (b.wall > 0 && b.wall < a.wall) {
		return b
	}
	return a
}

// peerRow is a context row: a peer's rate beside etcd-dr's, with no goal
// (their cost here is mostly the shared endpoints', see the floor rows).
func peerRow(name string, ours float64, peer string, c cost, err error, rate func(time.Duration) float64) Row {
	r := Row{Name: name, Value: ours, Unit: "hosts/s", Peer: peer}
	if err != nil {
		r.Note = err.Error()
		return r
	}
	r.PeerValue, r.Note = rate(c.wall), peer+": "+c.String()
	r.Ratio = ratio(r.Value, r.PeerValue)
	r.Measured = true
	return r
}

// runner times etcd-dr from reading its keys and known_hosts (nodes.New),
// as the peers' times include their own start-up.
func (e *endpoints) runner(ctx context.Context, concurrency int) (time.Duration, error) {
	start := time.Now()
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
	res := r.FanOut(ctx, names, func(string) nodes.Cmd { return nodes.Cmd{Args: []string{shortCommand}} }, nil)
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
