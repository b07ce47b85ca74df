package nodes

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProbeResult is what `etcd-dr check` learns about one node, item by item:
// an item's error says why that item is unknown.
type ProbeResult struct {
	Node    string
	Latency time.Duration // connect (if needed) plus one `true` round trip
	SSHErr  error         // when set, nothing else was checked

	SudoChecked bool // Params.Sudo was set
	SudoErr     error

	Kernel string // uname -sr
	OS     string // PRETTY_NAME from /etc/os-release
	OSErr  error

	DiskPath string
	DiskFree int64 // bytes available to unprivileged users on DiskPath's filesystem
	DiskErr  error
}

// probeTimeout bounds each read-only probe command.
const probeTimeout = 30 * time.Second

// Probe checks node read-only: SSH (latency), passwordless sudo when
// configured, OS, and free disk on wantDisk (skipped when empty).
func (r *Runner) Probe(ctx context.Context, node string, wantDisk string) ProbeResult {
	p := ProbeResult{Node: node, DiskPath: wantDisk}
	run := func(c Cmd) (Result, error) {
		c.Timeout = probeTimeout
		return r.Run(ctx, node, c, nil)
	}
	start := time.Now()
	if _, err := run(Cmd{Args: []string{"true"}}); err != nil {
		p.SSHErr = err
		return p
	}
	p.Latency = time.Since(start)
	if r.p.Sudo {
		p.SudoChecked = true
		_, p.SudoErr = run(Cmd{Args: []string{"true"}, Sudo: true})
	}
	if res, err := run(Cmd{Args: []string{"uname", "-sr"}}); err != nil {
		p.OSErr = err
	} else {
		p.Kernel = strings.TrimSpace(res.Stdout)
		if res, err := run(Cmd{Args: []string{"cat", "/etc/os-release"}}); err != nil {
			p.OSErr = err
		} else {
			p.OS = osReleaseValue(res.Stdout, "PRETTY_NAME")
		}
	}
	if wantDisk != "" {
		res, err := run(Cmd{Args: []string{"df", "-Pk", "--", wantDisk}})
		if err == nil {
			p.DiskFree, err = ParseDFAvail(res.Stdout)
		}
		if err != nil {
			p.DiskErr = fmt.Errorf("free disk on %s at %s: %w", node, wantDisk, err)
		}
	}
	return p
}

// osReleaseValue reads KEY="value" from os-release(5) text.
func osReleaseValue(text, key string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || k != key {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			return uq
		}
		return strings.Trim(v, `'"`)
	}
	return ""
}

// ParseDFAvail reads the "Available" column (1024-byte blocks) of POSIX
// `df -Pk` output: a header line, then one line per filesystem. A long
// device name does not wrap with -P, so the fourth field is always it.
func ParseDFAvail(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("unexpected df output %q", out)
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 6 {
		return 0, fmt.Errorf("unexpected df line %q", lines[len(lines)-1])
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("df available %q: %w", f[3], err)
	}
	return kb * 1024, nil
}
