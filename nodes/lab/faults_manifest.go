package lab

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Knobs for hostile and secret-bearing manifests (issue 7, cases 11 and the
// secrets check): a test writes what an operator's cluster might hold into
// a node's files, then runs the real procedure over it.

// EditNodeFile replaces the node's file (a node path) with edit(old). The
// new content is written under a hidden name and renamed, as the kubelet
// reads every non-hidden file in the manifests dir and must never see half
// a manifest.
func (l *Lab) EditNodeFile(ctx context.Context, name, file string, edit func(old []byte) ([]byte, error)) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(filepath.Join(n.root(), file))
	if err != nil {
		return fmt.Errorf("lab: edit %s on %s: %w", file, name, err)
	}
	data, err := edit(old)
	if err != nil {
		return fmt.Errorf("lab: edit %s on %s: %w", file, name, err)
	}
	tmp := path.Join(path.Dir(file), "."+path.Base(file)+".lab-edit")
	cmd := n.command(ctx, "sh", "-c", `cat >"$1" && mv -- "$1" "$2"`, "lab-edit", tmp, file)
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("lab: edit %s on %s: %w: %s", file, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// CopyNodeFile copies the node's file src to dst (node paths), keeping its
// mode, as an operator's `cp etcd.yaml etcd.yaml.bak` does.
func (l *Lab) CopyNodeFile(ctx context.Context, name, src, dst string) error {
	n, err := l.node(name)
	if err != nil {
		return err
	}
	if out, err := n.command(ctx, "cp", "-p", "--", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("lab: copy %s to %s on %s: %w: %s", src, dst, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// WaitEtcdHealthy waits until the lab's etcd is one healthy cluster with
// one leader again (after a test restarted its members by editing their
// manifests), or ctx ends.
func (l *Lab) WaitEtcdHealthy(ctx context.Context) error {
	for {
		st, err := ReadStatus(l.opts.Dir)
		if err != nil {
			return err
		}
		c := checkEtcd(ctx, l.opts.Dir, st)
		if c.OK {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: etcd not healthy: %s", c.Detail)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// VerifySince is Verify for a drill whose test restarted etcd itself after
// the seed (to give it hostile flags): the old data dirs are compared with
// their digests taken when etcd first stopped after since — the drill's
// stop — rather than after the seed, when the test's own restart, not the
// drill, changed them. Every other check is Verify's.
func VerifySince(ctx context.Context, dir string, since time.Time) (Report, error) {
	r, err := Verify(ctx, dir)
	if err != nil {
		return r, err
	}
	st, err := ReadStatus(dir)
	if err != nil {
		return r, err
	}
	evs, err := ReadTimeline(dir)
	if err != nil {
		return r, err
	}
	for i, c := range r.Checks {
		if c.Name == CheckOldDataIntact {
			r.Checks[i] = checkOldData(st, evs, Seed{Time: since})
		}
	}
	return r, nil
}
