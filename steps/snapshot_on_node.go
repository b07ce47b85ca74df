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

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// A snapshot with snapshot.on: <node> is used where it lies on that node,
// but it is not trusted there: preflight reads it to the bastion over SSH,
// verifies that copy (trailer, bbolt, etcdutl Status, member set) and
// checks the node's file has the same sha256. The restore on that node then
// uses the file in place, and the other members get the verified copy,
// exactly as a bastion snapshot. The node's file is only ever read.

// snapshotNode is the node holding the snapshot, or "" for the bastion.
func (c *Context) snapshotNode() string {
	if on := c.Cluster.Snapshot.On; on != "" && on != config.SnapshotOnBastion {
		return on
	}
	return ""
}

// snapshotPathFor is the snapshot each member restores from: the file in
// place on the node holding it, the checked copy everywhere else.
func (c *Context) snapshotPathFor(node string) string {
	if node != "" && node == c.snapshotNode() {
		return c.Cluster.Snapshot.Path
	}
	return c.val(c.Values.SnapshotOnNode, PhSnapshotOnNode)
}

// localSnapshot is the snapshot file on the bastion that Verify, the member
// check and the diff read: the configured file, or the copy read from the
// node in preflight.
func (c *Context) localSnapshot() string {
	if c.fromMember() && c.Values.SnapshotLocal != "" {
		return c.Values.SnapshotLocal // the source member's db copy (source_member.go)
	}
	if c.snapshotNode() == "" {
		return c.Cluster.Snapshot.Path
	}
	if c.Values.SnapshotLocal != "" {
		return c.Values.SnapshotLocal
	}
	return c.snapshotCopyOnBastion()
}

// snapshotCopyOnBastion is where preflight keeps the copy it verified: in
// the cluster's state dir, named after the run and the node.
func (c *Context) snapshotCopyOnBastion() string {
	dir := journal.Dir(c.Cluster.State.Dir, c.Cluster.Name)
	return filepath.Join(dir, "snapshot-"+c.val(c.Values.Run, PhRun)+"-from-"+c.snapshotNode()+".db")
}

// fetchActions size and hash the snapshot on its node, then stream it to
// the bastion, base64 in lines the line-oriented transport passes whole
// (49152 characters: a multiple of 4, under its 64 KiB line limit).
func (c *Context) fetchActions() []Action {
	node, src := c.snapshotNode(), c.Cluster.Snapshot.Path
	return []Action{
		{Node: node, What: "size and hash the snapshot where it lies",
			Cmd: shCmd(c.Cluster, `set -e; stat -c %s -- "$1"; sha256sum -- "$1"`, src)},
		{Node: node, What: "read the snapshot to the bastion (" + c.snapshotCopyOnBastion() + ") to verify it there",
			Cmd: sudo(c.Cluster, "base64", "-w", "49152", "--", src)},
	}
}

// fetchSnapshot reads the snapshot from its node into the state dir and
// returns the sha256 the node reported for its file.
func (c *Context) fetchSnapshot(ctx context.Context) (string, error) {
	node, src := c.snapshotNode(), c.Cluster.Snapshot.Path
	acts := c.fetchActions()
	res, err := c.Exec1(ctx, acts[0])
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
	dst := c.snapshotCopyOnBastion()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	c.Values.SnapshotSize = size // sizes the read's timeout; Verify sets it again from the copy
	acts[1].Cmd.Timeout = c.sizedTimeout(copyPasses)
	if err := c.streamTo(ctx, acts[1], dst); err != nil {
		return "", fmt.Errorf("read snapshot %s from %s into %s: %w", src, node, dst, err)
	}
	c.Values.SnapshotLocal = dst
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
	onLine := func(l nodes.Line) {
		if l.Stream != nodes.Stdout || decodeErr != nil {
			return
		}
		b, err := base64.StdEncoding.DecodeString(l.Text)
		if err == nil {
			_, err = w.Write(b)
		}
		decodeErr = err
	}
	if _, err := c.execTo(ctx, a, onLine); err != nil {
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
