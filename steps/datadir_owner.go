package steps

// ownScript gives the restored data dir $2 the owner, group and mode of the
// member's old data dir $1. etcdutl creates it root:root 0700 (it runs
// under sudo); an etcd.service with User=etcd (older units, distro
// packages) then cannot read it and never starts. Only read from the old
// dir; run again, it changes nothing.
const ownScript = `set -e; old="$1"; new="$2"
if [ ! -d "$old" ]; then echo "old data dir $old not found: $new keeps the owner etcdutl gave it"; stat -c '%U:%G %a %n' -- "$new"; exit 0; fi
chown -R --reference="$old" -- "$new"; chmod --reference="$old" -- "$new"
stat -c '%U:%G %a %n' -- "$old" "$new"`

// ownAction copies the old data dir's owner and mode to the restored one.
func (c *Context) ownAction(m Member) Action {
	newDir := c.val(c.Values.DataDir, PhDataDir)
	return Action{Node: m.Node, What: "give " + newDir + " the owner, group and mode of " + m.DataDir + " (etcd may run as a non-root User=)",
		Cmd: shCmd(c.Cluster, ownScript, m.DataDir, newDir)}
}
