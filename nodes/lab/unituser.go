package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

var userNameRe = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// etcdUserDefaults checks Options.EtcdUser and picks its uid the way
// `useradd --system` does: the highest id below 1000 that neither
// /etc/passwd nor /etc/group uses. The nodes' /etc is an overlay of this
// machine's, so a free id here is free on every node, and mapping it to the
// same host id keeps `ls -ln` of a node's files readable from the host.
func (o *Options) etcdUserDefaults() error {
	switch {
	case o.EtcdMode != EtcdModeSystemd:
		return fmt.Errorf("lab: --etcd-user %s: only systemd-mode etcd has a unit with User= (kubeadm's static pod runs etcd as root)", o.EtcdUser)
	case !userNameRe.MatchString(o.EtcdUser) || o.EtcdUser == "root":
		return fmt.Errorf("lab: --etcd-user %q: want a system user name such as etcd (root is the default)", o.EtcdUser)
	case os.Getuid() != 0:
		return errors.New("lab: --etcd-user needs the lab run as root: a node's user namespace maps a second uid " +
			"(the service user's) only when its parent is privileged")
	}
	used := map[int]bool{}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		ids, err := fileIDs(f)
		if err != nil {
			return fmt.Errorf("lab: --etcd-user: %w", err)
		}
		for _, id := range ids {
			used[id] = true
		}
	}
	for id := 999; id >= 100; id-- {
		if !used[id] {
			o.etcdUID = id
			return nil
		}
	}
	return errors.New("lab: --etcd-user: no free system uid below 1000 on this machine")
}

// fileIDs is the third field (uid or gid) of every line of a passwd or
// group file.
func fileIDs(path string) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p := strings.Split(sc.Text(), ":"); len(p) > 2 {
			if id, err := strconv.Atoi(p[2]); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids, sc.Err()
}

// serviceUserScript makes a member a host whose etcd runs as user $1 (uid
// and gid $2), as kubespray's etcd role and distro packages leave it: the
// system user and group, the data dir of /etc/etcd.env owned by it 0700
// (etcd refuses any other mode; systemd does not create it for a User=
// unit), and the member's TLS keys readable by it.
const serviceUserScript = `set -eu
user="$1"; id="$2"
grep -q "^$user:" /etc/passwd || echo "$user:x:$id:$id:etcd user:/var/lib/etcd:/usr/sbin/nologin" >> /etc/passwd
grep -q "^$user:" /etc/group || echo "$user:x:$id:" >> /etc/group
. /etc/etcd.env
install -d -o "$user" -g "$user" -m 0700 "$ETCD_DATA_DIR"
chown "$user:$user" "$ETCD_KEY_FILE" "$ETCD_PEER_KEY_FILE"
`

// addServiceUser runs serviceUserScript on member n.
func addServiceUser(ctx context.Context, n *node, user string, id int) error {
	out, err := n.command(ctx, "sh", "-c", serviceUserScript, "lab-user", user, strconv.Itoa(id)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("node %s: add the %s user: %w: %s", n.spec.Name, user, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lookupUser resolves name in the node's /etc/passwd as systemd does for
// User= when the unit starts: a user the node does not know fails the
// start (status=217/USER).
func lookupUser(root, name string) (uid, gid int, err error) {
	f, err := os.Open(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) > 3 && p[0] == name {
			uid, err1 := strconv.Atoi(p[2])
			gid, err2 := strconv.Atoi(p[3])
			if err1 == nil && err2 == nil {
				return uid, gid, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("Failed to determine user credentials: No such process (User=%s, status=217/USER)", name)
}
