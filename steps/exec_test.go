package steps

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// localExec runs commands as real processes on this machine with bash, the
// way a node's shell would run them over SSH (without sudo: tests set
// ssh.sudo false). It records every command line per node.
type localExec struct {
	mu   sync.Mutex
	ran  map[string][]string
	env  []string
	hook func(node, line string) // called before running, e.g. to fail a node
	// pathPrefix goes before the node's PATH: a directory of recording
	// wrappers around real commands.
	pathPrefix string
}

func (x *localExec) Run(ctx context.Context, node string, cmd nodes.Cmd, onLine func(nodes.Line)) (nodes.Result, error) {
	line := CommandLine(cmd, false)
	x.mu.Lock()
	if x.ran == nil {
		x.ran = map[string][]string{}
	}
	x.ran[node] = append(x.ran[node], line)
	hook := x.hook
	x.mu.Unlock()
	if hook != nil {
		hook(node, line)
	}
	began := time.Now()
	c := exec.CommandContext(ctx, "bash", "-c", line)
	c.Env = append(c.Env, x.env...)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if x.pathPrefix != "" {
		path = x.pathPrefix + ":" + path
	}
	c.Env = append(c.Env, "PATH="+path, "NODE="+node)
	if cmd.Stdin != nil {
		c.Stdin = cmd.Stdin
	}
	stdout, _ := c.StdoutPipe()
	stderr, _ := c.StderrPipe()
	res := nodes.Result{Node: node, ExitCode: -1}
	if err := c.Start(); err != nil {
		res.Err = err
		return res, err
	}
	var out, errb strings.Builder
	var wg sync.WaitGroup
	pipe := func(r io.Reader, s nodes.Stream, into *strings.Builder) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			into.WriteString(sc.Text() + "\n")
			if onLine != nil {
				onLine(nodes.Line{Node: node, Stream: s, Time: time.Now(), Text: sc.Text()})
			}
		}
	}
	wg.Add(2)
	go pipe(stdout, nodes.Stdout, &out)
	go pipe(stderr, nodes.Stderr, &errb)
	wg.Wait()
	err := c.Wait()
	res.Duration, res.Stdout, res.Stderr = time.Since(began), out.String(), errb.String()
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		res.ExitCode = ee.ExitCode()
		res.Err = err
	default:
		res.Err = err
	}
	return res, nil
}

func (x *localExec) commands(node string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.ran[node]...)
}
