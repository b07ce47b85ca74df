package config

// snapshotFrom checks snapshot.from: "best-member" or the name of an etcd
// member, whose member/snap/db becomes the snapshot. It reports whether the
// rest of the snapshot section still needs checking: only when a file is
// also given (then compared with the members at the gate, so it must be as
// valid as any snapshot file).
func (v *validator) snapshotFrom() bool {
	s, at := &v.c.Snapshot, v.d.where("snapshot.from")
	switch n, found := v.c.Node(s.From); {
	case s.From == SnapshotFromBestMember:
	case s.From == "":
		v.r.errorf(at, "snapshot.from: empty; write %q (the most advanced surviving member, confirmed at a gate) or a member's node name", SnapshotFromBestMember)
		return false
	case !found:
		v.r.errorf(at, "snapshot.from: %q is neither %q nor a node in this file%s", s.From, SnapshotFromBestMember, didYouMean(s.From, append(v.nodeNames(), SnapshotFromBestMember)))
		return false
	case !n.Has(RoleEtcd) && !v.nodesDoubtful():
		v.r.errorf(at, "snapshot.from: node %q (line %d) is not an etcd member; name a member whose data dir survives, or write %q", n.Name, n.Line, SnapshotFromBestMember)
		return false
	}
	if s.On != SnapshotOnBastion {
		// The file beside snapshot.from is only compared, and compared on
		// this machine: one on a node would be read for nothing.
		v.r.errorf(v.d.where("snapshot.on"), "snapshot.on: %q with snapshot.from: the snapshot file is only compared with the members, on this machine; copy it here and drop snapshot.on, or drop snapshot.path", s.On)
		return false
	}
	return v.d.set("snapshot.path") && s.Path != ""
}
