package steps

import (
	"context"
	"path"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// Stopping, repointing and starting one etcd member: shared by the restore
// (restore_etcd.go) and the rollback (rollback.go).

// stopEtcd / startEtcd: park the static pod or stop the unit.
func (c *Context) stopEtcd(node string) Action {
	if c.systemd() {
		return Action{Node: node, What: "stop etcd so nothing writes its data dir during the restore", Cmd: sudo(c.Cluster, "systemctl", "stop", c.unit())}
	}
	return parkAction(c, node, etcdManifest)
}

func (c *Context) startEtcd(node string) Action {
	if c.systemd() {
		// --no-block: a Type=notify unit's start would wait for a quorum
		// of members not started yet (systemd_units.go).
		return Action{Node: node, What: "start etcd on the restored data dir (without waiting on systemd's job: the members are waited for next)",
			Cmd: sudo(c.Cluster, "systemctl", "start", "--no-block", c.unit())}
	}
	return unparkAction(c, node, etcdManifest)
}

// etcdSource is the file etcd reads its flags from while it runs: the
// live etcd.yaml, or the env file.
func (c *Context) etcdSource() string {
	if c.systemd() {
		return c.Cluster.Etcd.EnvFile
	}
	return path.Join(c.Cluster.Etcd.ManifestsDir, etcdManifest)
}

// etcdConfigFile is the file pointing etcd at its data dir while etcd is
// stopped: the parked etcd.yaml, or the env file.
func (c *Context) etcdConfigFile() string {
	if c.systemd() {
		return c.Cluster.Etcd.EnvFile
	}
	return path.Join(c.Cluster.Etcd.ParkDir, etcdManifest)
}

// pointDataDir edits a member's etcdConfigFile content to name dir as
// its data dir.
func (c *Context) pointDataDir(data []byte, dir string) ([]byte, error) {
	if c.systemd() {
		return manifest.EditEtcdEnv(data, "ETCD_DATA_DIR", dir)
	}
	return manifest.Edit(data, manifest.PointDataDir(dir))
}

// stopEtcdAndWait runs m's stop action and waits until no etcd process and
// no listener remain where the member listened: nothing may touch its data
// dir while it could still write.
func (c *Context) stopEtcdAndWait(ctx context.Context, m Member, stop Action) error {
	if _, err := c.Exec1(ctx, stop); err != nil {
		return err
	}
	port := urlPort(first(m.ClientURLs), 2379)
	err := c.waitEvery(ctx, memberPoll, "etcd stopped on "+m.Node, func(ctx context.Context) error {
		if err := c.processGone(ctx, m.Node, "etcd"); err != nil {
			return err
		}
		return c.noListener(ctx, m.Node, CompEtcd, port, urlHosts(m.ListenClientURLs))
	})
	if c.systemd() {
		return err
	}
	return c.parkedPodGone(m.Node, "etcd", err)
}
