package lab

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
)

// Fault knobs: what later tests use to make a drill go wrong the way real
// ones do. Each names the node and returns an error for an unknown node.

func (l *Lab) node(name string) (*labNode, error) {
	n, ok := l.nodes[name]
	if !ok {
		return nil, fmt.Errorf("lab: no node %q (nodes: %v)", name, l.order)
	}
	return n, nil
}

// StopSSH closes a node's SSH server for good: the node is unreachable.
func (l *Lab) StopSSH(name string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	return n.ssh.Close()
}

// PauseSSH makes a node's SSH server stop answering (connections hang) until
// ResumeSSH: a node behind a dead link.
func (l *Lab) PauseSSH(name string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	n.ssh.Pause()
	return nil
}

// ResumeSSH undoes PauseSSH.
func (l *Lab) ResumeSSH(name string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	n.ssh.Resume()
	return nil
}

// HangCommands makes every later SSH command on the node whose line matches
// pattern (a Go regexp) run forever, until its session or timeout ends it.
func (l *Lab) HangCommands(name, pattern string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return fmt.Errorf("lab: hang pattern %q: %w", pattern, err)
	}
	n.hangMu.Lock()
	defer n.hangMu.Unlock()
	n.hang = append(n.hang, re)
	return nil
}

// IgnoreManifestRemoval makes the node's kubelet keep pod running when its
// manifest is removed (on=true), like a kubelet watching another dir.
func (l *Lab) IgnoreManifestRemoval(name, pod string, on bool) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	n.kubelet.setIgnoreRemoval(pod, on)
	return nil
}

// KubeletSourcesNotReady makes the node's kubelet behave as one started
// while no apiserver answered, whose config sources never synced (on=true):
// it skips every pod delete and housekeeping, so a parked manifest's pod
// keeps running (kubelet.go deletePod "sources aren't ready").
func (l *Lab) KubeletSourcesNotReady(name string, on bool) error {
	if l.real != nil {
		return l.realSourcesNotReady(context.Background(), name, on) // realtier.go: made for real
	}
	n, err := l.node(name)
	if err != nil {
		return err
	}
	n.kubelet.setSourcesNotReady(on)
	return nil
}

// FillDisk mounts a tmpfs of sizeBytes at dir inside the node (creating
// dir), so writes there fail with a real ENOSPC once it is full. Pods started
// afterwards see it; running pods keep their view.
func (l *Lab) FillDisk(ctx context.Context, name, dir string, sizeBytes int64) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	_, err = n.command(ctx, "sh", "-c", `mkdir -p "$1" && mount -t tmpfs -o size="$2" lab-full "$1"`,
		"fill-disk", dir, strconv.FormatInt(sizeBytes, 10)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("lab: fill disk at %s on %s: %w", dir, name, err)
	}
	return nil
}

// beforeCommand is a fault that happens on the node just before a command
// matching re runs there (FillDiskBefore).
type beforeCommand struct {
	re *regexp.Regexp
	do func(ctx context.Context)
}

// FillDiskBefore fills the filesystem holding dir on the node, leaving
// leave bytes free (a file that takes the rest, lab-filler in dir), just
// before the first command matching pattern runs there: the disk filled up
// (logs, another process) after preflight measured it, which a check can
// only catch by measuring again.
func (l *Lab) FillDiskBefore(name, pattern, dir string, leave int64) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return fmt.Errorf("lab: fill-disk pattern %q: %w", pattern, err)
	}
	var once sync.Once
	n.hangMu.Lock()
	defer n.hangMu.Unlock()
	n.before = append(n.before, beforeCommand{re: re, do: func(ctx context.Context) {
		once.Do(func() {
			out, err := n.command(ctx, "sh", "-c", `avail=$(df -Pk -- "$1" | awk 'NR==2 {print $4}') && `+
				`fallocate -l $((avail * 1024 - $2)) -- "$1/lab-filler"`, "fill-disk", dir, strconv.FormatInt(leave, 10)).CombinedOutput()
			if err != nil {
				l.tl.add(Event{Node: name, Kind: "fault-error", Detail: fmt.Sprintf("fill %s: %v: %s", dir, err, out)})
			}
		})
	}})
	return nil
}

// ChangeHostKey gives the node's SSH server a new host key that is not in
// the lab's known_hosts (a reinstalled node, or an attacker); it returns it.
func (l *Lab) ChangeHostKey(name string) (ssh.PublicKey, error) {
	n, err := l.node(name)
	if err != nil {
		return nil, err
	}
	k, err := newSigner("", "")
	if err != nil {
		return nil, err
	}
	n.ssh.SetHostKeys(k)
	return k.PublicKey(), nil
}
