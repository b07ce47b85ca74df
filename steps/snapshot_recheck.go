package steps

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// Exit codes of restoreScript's own refusals (etcdutl's are its own).
const (
	exitSnapshotChanged = 5 // the snapshot's sha256 is not the verified one
	exitNoDiskForRetry  = 6 // too little free disk to retry the restore
)

// walSegment is what a restored member needs beyond the db: etcd
// preallocates its first WAL segment at 64 MiB.
const walSegment = 64 << 20

// SnapshotChangedError: the file a member restores from no longer has the
// sha256 verified in preflight. Got is "" when the file cannot be read.
type SnapshotChangedError struct {
	Node, File string
	Want, Got  string
}

func (e *SnapshotChangedError) Error() string {
	now := "sha256 " + e.Got
	if e.Got == "" {
		now = "cannot be read"
	}
	return fmt.Sprintf("on %s, the snapshot %s changed since preflight: %s now, sha256 %s verified then; "+
		"no member was restored from it; find out what changed it (a backup job?), then start a new run so it is verified again",
		e.Node, e.File, now, e.Want)
}

// recheckSnapshots reads, on every member, the sha256 of the exact file
// that member will restore from, and refuses unless every one still is the
// verified snapshot. It runs before any member's etcd is stopped: one
// changed file (the snapshot.on node's, rewritten by a backup job while a
// gate was open) must stop every member, not leave the others restored
// from the old data under the same cluster ID. The restore command checks
// again right before etcdutl reads the file (restoreScript); a resume
// re-runs both.
func (c *Context) recheckSnapshots(ctx context.Context, ms []Member) error {
	return c.ForEachNode(ctx, memberNodes(ms), func(ctx context.Context, node string) error {
		file := c.snapshotOnMember(node)
		res, err := c.Exec1(ctx, c.recheckAction(node))
		got := ""
		if f := strings.Fields(res.Stdout); err == nil && len(f) > 0 {
			got = f[0]
		}
		ok := got == c.Values.SnapshotSHA256
		c.Check(node, "snapshot still matches sha256", ok, file)
		if ok {
			return nil
		}
		var ee *nodes.ExitError
		if err != nil && !errors.As(err, &ee) {
			return err // transport: the node's file was not read
		}
		return &SnapshotChangedError{Node: node, File: file, Want: c.Values.SnapshotSHA256, Got: got}
	})
}

// recheckAction reads the sha256 of the file node restores from.
func (c *Context) recheckAction(node string) Action {
	cmd := sudo(c.Cluster, "sha256sum", "--", c.snapshotOnMember(node))
	cmd.Timeout = c.sizedTimeout(copyPasses)
	return Action{Node: node, What: "re-check the sha256 of the snapshot this member restores from, before any member is stopped or restored", Cmd: cmd, Long: true}
}

var changedRe = regexp.MustCompile(`etcd-dr: snapshot changed: .* has sha256 ([0-9a-f]+), expected`)

// restoreRefusal turns restoreScript's own refusals into typed errors, nil
// for any other failure.
func (c *Context) restoreRefusal(m Member, res nodes.Result) error {
	switch res.ExitCode {
	case exitSnapshotChanged:
		got := ""
		if sm := changedRe.FindStringSubmatch(res.Stderr); sm != nil {
			got = sm[1]
		}
		return &NodeError{Node: m.Node, Err: &SnapshotChangedError{Node: m.Node, File: c.snapshotOnMember(m.Node), Want: c.Values.SnapshotSHA256, Got: got}}
	case exitNoDiskForRetry:
		return &NodeError{Node: m.Node, Err: fmt.Errorf("%s: this run's interrupted restore was removed, nothing else; free space under %s, then retry",
			strings.TrimPrefix(lastStderrLine(res.Stderr), "etcd-dr: "), path.Dir(c.Values.DataDir))}
	}
	return nil
}

// restoreScriptArgs are restoreScript's parameters before etcdutl's argv.
func (c *Context) restoreScriptArgs(newDir, snap string) []string {
	return []string{newDir, c.val(c.Values.Run, PhRun), snap, c.val(c.Values.SnapshotSHA256, "<sha256 verified in preflight>"),
		strconv.FormatInt(c.Values.SnapshotSize+walSegment, 10)}
}

func lastStderrLine(s string) string {
	lines := strings.Split(strings.TrimSpace(nodes.StderrWithoutSudoWarnings(s)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// removePartialCopy removes what an interrupted copy of this run's snapshot
// to node left (the copy script writes "<copy>.part", then renames it), so
// a retry's disk check counts that space as free. The name carries the run
// ID: it can only be this run's. The node holding the snapshot gets no copy.
func (c *Context) removePartialCopy(ctx context.Context, node string) error {
	if node == c.snapshotHolder() || c.Values.Run == "" || c.Values.DataDir == "" {
		return nil
	}
	_, err := c.Exec1(ctx, c.partialCopyRemoval(node))
	return err
}

func (c *Context) partialCopyRemoval(node string) Action {
	return Action{Node: node, What: "remove this run's interrupted snapshot copy, if any, before the disk check",
		Cmd: sudo(c.Cluster, "rm", "-f", "--", c.snapshotOnMember(node)+".part")}
}
