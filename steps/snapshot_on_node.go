package steps

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// A snapshot with snapshot.on: <node> is used where it lies on that node,
// but it is not trusted there: preflight reads it to the bastion over SSH,
// verifies that copy (trailer, bbolt, etcdutl Status, member set) and
// checks the node's file has the same sha256. The restore on that node then
// uses the file in place, and the other members get the verified copy,
// exactly as a bastion snapshot. The node's file is only ever read.

// fetchActs size and hash the snapshot on its node (stat), then stream it
// to the bastion (read), base64 in lines the line-oriented transport passes
// whole (49152 characters: a multiple of 4, under its 64 KiB line limit).
type fetchActs struct {
	stat, read Action
}

func (a fetchActs) list() []Action { return []Action{a.stat, a.read} }

func (c *Context) fetchActions() fetchActs {
	node, src := c.snapshotHolder(), c.Cluster.Snapshot.Path
	return fetchActs{
		stat: Action{Node: node, What: "size and hash the snapshot where it lies",
			Cmd: shCmd(c.Cluster, `set -e; stat -c %s -- "$1"; sha256sum -- "$1"`, src)},
		read: Action{Node: node, What: "read the snapshot to the bastion (" + c.bastionCopyPath() + ") to verify it there",
			Cmd: sudo(c.Cluster, "base64", "-w", "49152", "--", src)},
	}
}

// fetchSnapshot reads the snapshot from its node into the state dir and
// returns the sha256 the node reported for its file.
func (c *Context) fetchSnapshot(ctx context.Context) (string, error) {
	node, src := c.snapshotHolder(), c.Cluster.Snapshot.Path
	acts := c.fetchActions()
	res, err := c.Exec1(ctx, acts.stat)
	if err != nil {
		return "", fmt.Errorf("snapshot.path %s on %s cannot be read: %w", src, node, err)
	}
	out := strings.Fields(res.Stdout)
	var size int64
	if len(out) >= 2 {
		size, err = strconv.ParseInt(out[0], 10, 64)
	}
	if len(out) < 2 || err != nil {
		return "", fmt.Errorf("size and sha256 of %s on %s: cannot read %q", src, node, clip(res.Stdout))
	}
	dst := c.bastionCopyPath()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	c.Values.SnapshotSize = size // sizes the read's timeout; Verify sets it again from the copy
	// A backstop only: streamTo's copyStall ends a read that stops moving.
	acts.read.Cmd.Timeout = c.copyBackstop()
	if err := c.streamTo(ctx, acts.read, dst); err != nil {
		return "", fmt.Errorf("read snapshot %s from %s into %s: %w", src, node, dst, err)
	}
	c.Values.SnapshotBastionCopy = dst
	return out[1], nil
}

// streamTo runs a, decoding its base64 stdout into dst (written whole, or
// not at all). Its output goes to the file, not to the log.
func (c *Context) streamTo(ctx context.Context, a Action, dst string) (err error) {
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	var decodeErr error
	p := c.startProgress(a.Node, "read the snapshot from "+a.Node+" to the bastion", ProgressBytes, c.Values.SnapshotSize, time.Time{})
	onLine := func(l nodes.Line) {
		if l.Stream != nodes.Stdout || decodeErr != nil {
			return
		}
		b, err := base64.StdEncoding.DecodeString(l.Text)
		if err == nil {
			_, err = w.Write(b)
			p.add(len(b))
		}
		decodeErr = err
	}
	sctx, stop := p.stalled(ctx, c.stallAfter())
	_, err = c.execTo(sctx, a, onLine)
	stop()
	err = stallCause(sctx, a.Node, err)
	p.end(err)
	if err != nil {
		return err
	}
	if decodeErr != nil {
		return fmt.Errorf("decode what %s sent: %w", a.Node, decodeErr)
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(part, dst)
}
