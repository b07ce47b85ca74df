package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Files of the detached daemon in the lab dir.
const (
	readyFile  = "ready"      // written once the lab is up; holds the daemon pid
	daemonLog  = "daemon.log" // the daemon's progress and errors
	failedFile = "failed"     // written when Up failed; holds the error
)

// Serve runs a lab in this process until ctx ends (the CLI's `lab serve`,
// normally started by Start), then takes it down. Progress lines go to
// opts.Progress; readiness is DIR/ready.
func Serve(ctx context.Context, opts Options) error {
	if err := opts.defaults(); err != nil {
		return err
	}
	if err := claimDir(opts.Dir); err != nil {
		return err // not the lab's: write nothing there, not even the failure
	}
	_ = os.Remove(filepath.Join(opts.Dir, readyFile))
	_ = os.Remove(filepath.Join(opts.Dir, failedFile))
	l, err := Up(ctx, opts)
	if err != nil {
		_ = os.WriteFile(filepath.Join(opts.Dir, failedFile), []byte(err.Error()+"\n"), 0o644)
		return err
	}
	stopFaults, err := serveFaults(ctx, l)
	if err != nil {
		_ = l.Down()
		return err
	}
	defer stopFaults()
	if err := os.WriteFile(filepath.Join(opts.Dir, readyFile), []byte(fmt.Sprintln(os.Getpid())), 0o644); err != nil {
		_ = l.Down()
		return fmt.Errorf("lab serve: %w", err)
	}
	<-ctx.Done()
	opts.Progress("lab serve: stopping")
	err = l.Down()
	_ = os.Remove(filepath.Join(opts.Dir, readyFile))
	return err
}

// Start launches `exe args...` (the CLI re-executing itself as `lab serve
// --dir DIR ...`) in its own session, so the lab outlives the shell command
// that started it, and waits until the daemon reports ready or failed,
// relaying its progress lines. The lab then runs until Down(dir).
func Start(ctx context.Context, dir, exe string, args []string, progress func(string)) (Status, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if err := claimDir(dir); err != nil {
		return Status{}, err
	}
	if st, err := ReadStatus(dir); err == nil && st.Running {
		return st, fmt.Errorf("lab up: a lab already runs in %s (daemon pid %d); run `etcd-dr lab down` first", dir, st.DaemonPID)
	}
	for _, f := range []string{readyFile, failedFile} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	logPath := filepath.Join(dir, daemonLog)
	logf, err := os.Create(logPath)
	if err != nil {
		return Status{}, fmt.Errorf("lab up: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Status{}, fmt.Errorf("lab up: start %s: %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopTail := tailLines(logPath, progress)
	defer stopTail()
	for {
		if _, err := os.Stat(filepath.Join(dir, readyFile)); err == nil {
			return ReadStatus(dir)
		}
		select {
		case err := <-exited:
			msg, _ := os.ReadFile(filepath.Join(dir, failedFile))
			return Status{}, fmt.Errorf("lab up: the lab daemon exited (%v): %s; see %s", err, strings.TrimSpace(string(msg)), logPath)
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return Status{}, fmt.Errorf("lab up: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// tailLines relays lines appended to path until the returned stop is called.
func tailLines(path string, line func(string)) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		f, err := os.Open(path)
		if err != nil {
			return
		}
		defer f.Close()
		r := bufio.NewReader(f)
		var partial string
		for {
			s, err := r.ReadString('\n')
			partial += s
			if err == nil {
				line(strings.TrimRight(partial, "\n"))
				partial = ""
				continue
			}
			if !errors.Is(err, io.EOF) {
				return
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

// Down stops the lab daemon of dir (SIGTERM; it stops its pods and nodes)
// and proves by pid that no process of the lab remains: every pid in the
// timeline is checked, and node namespaces still alive after the grace are
// killed (which kills everything inside them).
func Down(dir string) error {
	st, err := ReadStatus(dir)
	if err != nil {
		return err
	}
	if st.Running {
		_ = syscall.Kill(st.DaemonPID, syscall.SIGTERM)
		deadline := time.Now().Add(60 * time.Second)
		for pidAlive(st.DaemonPID) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, n := range st.Nodes {
		if pidAlive(n.InitPID) && isNodeInit(n.InitPID) {
			_ = syscall.Kill(n.InitPID, syscall.SIGKILL)
		}
	}
	return Leftovers(dir)
}

// leftoverWait bounds how long Leftovers waits for the lab's processes to
// end before naming them: a pod stopped just before the lab went down (the
// console quit while step 1 parked kube-apiserver, which drains its
// connections until the kubelet's SIGKILL) ends only when its grace does,
// 30 s for a manifest that sets none. Reporting sooner called that pod a
// leftover although the lab was on its way down.
const leftoverWait = defaultGrace + 5*time.Second

// Leftovers returns an error naming every process the lab recorded that
// still runs once the kubelet's grace period (bounded: leftoverWait) is out.
func Leftovers(dir string) error {
	return leftoversWithin(dir, leftoverWait)
}

func leftoversWithin(dir string, wait time.Duration) error {
	evs, err := ReadTimeline(dir)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for {
		var alive []string
		for _, e := range evs {
			if e.PID != 0 && (e.Kind == EvPodStart || e.Kind == EvNodeUp) && pidAlive(e.PID) {
				alive = append(alive, fmt.Sprintf("pid %d (%s %s on %s)", e.PID, e.Kind, e.Pod, e.Node))
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lab down: still running: %s", strings.Join(alive, ", "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isNodeInit guards against killing a recycled pid: a node's init is
// `sleep infinity` as pid 1 of its namespace.
func isNodeInit(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.HasPrefix(string(b), "sleep\x00infinity")
}
