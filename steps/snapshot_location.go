package steps

import (
	"path"
	"path/filepath"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// Where the snapshot lies, in one vocabulary:
//
//   - the holder: where snapshot.path lies, the bastion ("") or the node
//     named by snapshot.on;
//   - the snapshot on the bastion: the file preflight verifies and sends to
//     the members, snapshot.path itself or the bastion copy;
//   - the bastion copy: what preflight reads from a holder node over SSH
//     into the state dir (Values.SnapshotBastionCopy);
//   - the member copy: what preflight copies next to every member's new
//     data dir (Values.SnapshotMemberCopy), but the holder node's, which
//     uses its file in place;
//   - the snapshot on a member: the file that member restores from, its
//     member copy or the holder node's file.

// snapshotHolder is the node holding the snapshot, or "" for the bastion.
func (c *Context) snapshotHolder() string {
	if on := c.Cluster.Snapshot.On; on != "" && on != config.SnapshotOnBastion {
		return on
	}
	return ""
}

// snapshotOnMember is the file the member on node restores from: the
// holder node's file in place, the member copy everywhere else.
func (c *Context) snapshotOnMember(node string) string {
	if node != "" && node == c.snapshotHolder() {
		return c.Cluster.Snapshot.Path
	}
	return c.val(c.Values.SnapshotMemberCopy, PhSnapshotMemberCopy)
}

// snapshotOnBastion is the snapshot file on the bastion that Verify, the
// member check and the diff read: the configured file, or the bastion copy
// read from the holder node in preflight.
func (c *Context) snapshotOnBastion() string {
	if c.fromMember() && c.Values.SnapshotBastionCopy != "" {
		return c.Values.SnapshotBastionCopy // the source member's db copy (source_member.go)
	}
	if c.snapshotHolder() == "" {
		return c.Cluster.Snapshot.Path
	}
	if c.Values.SnapshotBastionCopy != "" {
		return c.Values.SnapshotBastionCopy
	}
	return c.bastionCopyPath()
}

// bastionCopyPath is where preflight keeps the copy it read from the
// holder node and verified: in the cluster's state dir, named after the
// run and the node.
func (c *Context) bastionCopyPath() string {
	dir := journal.Dir(c.Cluster.State.Dir, c.Cluster.Name)
	return filepath.Join(dir, "snapshot-"+c.val(c.Values.Run, PhRun)+"-from-"+c.snapshotHolder()+".db")
}

// memberCopyPath is where the snapshot is copied on every member: next to
// the new data dir, so the disk check covers both.
func (c *Context) memberCopyPath() string {
	if c.Values.DataDir == "" {
		return PhSnapshotMemberCopy
	}
	return path.Join(path.Dir(c.Values.DataDir), "etcd-dr-snapshot-"+c.Values.Run+".db")
}
