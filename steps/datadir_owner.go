package steps

import (
	"context"
	"fmt"
	"strings"
)

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

// unitUserScript prints the etcd unit's User= (empty: root) and the owner
// of the member's data dir $2, both as the owner step will see them (under
// sudo): the step copies the old dir's owner, which is right only when the
// unit runs etcd as that very user.
const unitUserScript = `set -e; u=$(systemctl show "$1" -p User --value); o=$(stat -c %U -- "$2")
printf 'user=%s\nowner=%s\n' "${u:-root}" "$o"`

// unitUserAction reads the unit's User= and the old data dir's owner.
func (c *Context) unitUserAction(m Member) Action {
	return Action{Node: m.Node, What: "read " + c.unit() + ".service's User= and the owner of " + m.DataDir +
		": the restored dir gets that owner, and etcd must be able to read it", ReadOnly: true,
		Cmd: shCmd(c.Cluster, unitUserScript, c.unit(), m.DataDir)}
}

// checkUnitUser fails closed, in systemd mode, when the unit's User= does
// not own the member's data dir: the restored dir would be given an owner
// etcd may not be able to read, which shows only once etcd fails to start
// after the destructive steps.
func (c *Context) checkUnitUser(ctx context.Context, node string) error {
	if !c.systemd() {
		return nil
	}
	m := memberOn(c.members(), node)
	res, err := c.Exec1(ctx, c.unitUserAction(m))
	if err != nil {
		return err
	}
	var user, owner string
	for _, line := range strings.Split(res.Stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "user="); ok {
			user = v
		} else if v, ok := strings.CutPrefix(line, "owner="); ok {
			owner = v
		}
	}
	ok := user != "" && user == owner
	c.Check(node, c.unit()+".service User= owns the data dir", ok, "User="+user+", "+m.DataDir+" owned by "+owner)
	if !ok {
		return fmt.Errorf("%s.service on %s runs etcd as %q but its data dir %s belongs to %q: the restored dir would get %q's ownership. "+
			"Make the unit's User= and the data dir's owner agree (`sudo systemctl show %s -p User`, `sudo ls -ld %s`) before restoring",
			c.unit(), node, user, m.DataDir, owner, owner, c.unit(), m.DataDir)
	}
	return nil
}
