package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// The resume and lock tests use lab blocks 50–59 (see drill_test.go for
// why every test file owns its own range).

// detachedLab starts a lab daemon with `lab up` — the same detached lab an
// operator drills against — and takes it down when the test ends. It
// returns the lab dir and its cluster.yaml. It claims block for t, which
// it makes parallel.
func detachedLab(t *testing.T, block int) (dir, cluster string) {
	t.Helper()
	labtest.Block(t, block)
	dir = filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	args := []string{"lab", "up", "--dir", dir, "--block", strconv.Itoa(block), "--workers", "1"}
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("lab up exit %d\n%s\n%s", code, &out, tail(errb.String(), 40))
	}
	return dir, filepath.Join(dir, "cluster.yaml")
}

// cliProc is a real `etcd-dr` process (this test binary re-executed as the
// CLI, see main_test.go) whose output is read line by line as it runs.
type cliProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   bytes.Buffer
	lines chan string
	done  chan struct{}
	code  int
}

// startCLI starts `etcd-dr args...`; both streams are merged into one
// transcript. The process is killed at the end of the test if still alive.
func startCLI(t *testing.T, args ...string) *cliProc {
	t.Helper()
	p := &cliProc{cmd: exec.Command(os.Args[0], args...), lines: make(chan string, 4096), done: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody waiting: the transcript keeps it anyway
			}
		}
		close(p.lines)
	}()
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		_ = err
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits (generously: the machine is shared) for a line for which
// match is true, and fails the test if the process ends first.
func (p *cliProc) waitLine(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("etcd-dr ended (exit %d) before %s:\n%s", p.code, what, tail(p.transcript(), 60))
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %s within 5 minutes:\n%s", what, tail(p.transcript(), 60))
		}
	}
}

// wait waits for the process to end and returns its exit code.
func (p *cliProc) wait(t *testing.T) int {
	t.Helper()
	go func() { // keep the pipe drained
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(10 * time.Minute):
		t.Fatalf("etcd-dr still running after 10 minutes:\n%s", tail(p.transcript(), 60))
	}
	return p.code
}

func (p *cliProc) transcript() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// runHeadless is the operator's command against the lab's cluster file.
func runHeadless(cluster string, extra ...string) []string {
	return append([]string{"run", "-f", cluster, "--headless", "--confirm", "drill"}, extra...)
}

// requireInvariants runs lab verify and fails on any invariant broken.
func requireInvariants(t *testing.T, dir string) (ok bool) {
	t.Helper()
	rep, err := lab.Verify(context.Background(), dir)
	if err != nil {
		t.Fatalf("lab verify: %v", err)
	}
	if !rep.OK() {
		var b bytes.Buffer
		writeLabReport(&b, rep)
		t.Errorf("invariants do not hold: %v\n%s", rep.Failed(), &b)
		return false
	}
	return true
}

// restoresPerMember counts the `snapshot restore` SSH commands per node in
// the lab's timeline.
func restoresPerMember(t *testing.T, dir string) map[string]int {
	t.Helper()
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		if e.Kind == lab.EvSSHExec && strings.Contains(e.Command, "snapshot restore") {
			n[e.Node]++
		}
	}
	return n
}
