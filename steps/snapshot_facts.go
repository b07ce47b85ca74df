package steps

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// diffSnapshot compares the cluster's snapshot file with the live etcd of
// the first member that answers (all hold the same keyspace), reading the
// live keys in pages (snapshot_keys.go). It reads the inventory first when
// preflight has not.
func (c *Context) diffSnapshot(ctx context.Context) (snapshot.Diff, error) {
	if len(c.Values.Members) == 0 {
		if err := c.readInventory(ctx); err != nil {
			return snapshot.Diff{}, err
		}
	}
	snap, err := snapshot.SnapshotKeyFile(c.snapshotOnBastion(), "")
	if err != nil {
		return snapshot.Diff{}, err
	}
	defer snap.Close()
	var errs []error
	for _, m := range c.members() {
		if len(m.ClientURLs) == 0 {
			continue
		}
		d, err := c.diffWith(ctx, m, snap)
		if err == nil {
			return d, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", m.Node, err))
	}
	if len(errs) == 0 {
		return snapshot.Diff{}, errors.New("no etcd member with a client URL in the inventory")
	}
	return snapshot.Diff{}, fmt.Errorf("no member listed its keys: %w", errors.Join(errs...))
}

// SnapshotDiff is `etcd-dr snapshot diff`: read-only, it changes nothing on
// any node and takes no lock.
func SnapshotDiff(ctx context.Context, cl *config.Cluster, exec Executor) (snapshot.Diff, error) {
	on := *cl // the file compared is the command's argument, on the bastion
	on.Snapshot.On = config.SnapshotOnBastion
	c := &Context{Cluster: &on, Exec: exec, Values: Values{Run: toolsRunSnapshotDiff}}
	if err := c.readInventory(ctx); err != nil {
		return snapshot.Diff{}, err
	}
	if err := c.bringTools(ctx); err != nil { // etcdctl, as preflight finds or brings it
		return snapshot.Diff{}, err
	}
	return c.diffSnapshot(ctx)
}

// SnapshotDiffFacts is the step-2 gate's summary of what the restore throws
// away. It must run while etcd still serves (preflight): at the gate the
// keys are what the operator is about to lose. A failure is a fact too: the
// operator decides without the list, knowingly.
func (c *Context) SnapshotDiffFacts(ctx context.Context) []string {
	if c.fromMember() {
		// No quorum, no linearizable read: each member would be waited on
		// for a minute. The ranking says what each member's data lacks.
		return []string{"the snapshot is a member's data: step 1's gate ranks the members and says what each one's data lacks against the others"}
	}
	d, err := c.diffSnapshot(ctx)
	if err != nil {
		return []string{"cannot compare the snapshot with the live etcd: " + err.Error()}
	}
	return []string{d.Sentence(),
		"full list, read-only: etcd-dr snapshot diff " + nodes.Quote(c.snapshotOnBastion()) + " -f " + nodes.Quote(clusterFile(c.Cluster))}
}

// SaveSnapshot is `etcd-dr snapshot save`: it reads the members from their
// nodes' manifests and saves from the first member that answers, with the
// member's own client TLS files read over SSH, or with given when set. The
// file and its sidecar appear whole or not at all; nothing is overwritten.
func SaveSnapshot(ctx context.Context, cl *config.Cluster, exec Executor, out string, given *tls.Config) (snapshot.Info, error) {
	c := &Context{Cluster: cl, Exec: exec}
	if err := c.readInventory(ctx); err != nil {
		return snapshot.Info{}, err
	}
	var errs []error
	for _, m := range c.members() {
		if len(m.ClientURLs) == 0 {
			continue
		}
		tlsCfg := given
		if tlsCfg == nil {
			var err error
			if tlsCfg, err = c.memberTLS(ctx, m); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		cfg := clientv3.Config{TLS: tlsCfg, DialTimeout: 10 * time.Second}
		info, err := snapshot.Save(ctx, cfg, m.ClientURLs[0], out)
		if err == nil {
			return info, nil
		}
		errs = append(errs, fmt.Errorf("member %s on %s: %w", m.Name, m.Node, err))
	}
	if len(errs) == 0 {
		return snapshot.Info{}, errors.New("no etcd member with a client URL in the inventory")
	}
	return snapshot.Info{}, fmt.Errorf("no member gave a snapshot (no file was written): %w", errors.Join(errs...))
}

// memberTLS builds a client TLS config from the files m's manifest names,
// read from m's node. A member without client TLS (http) gets nil.
func (c *Context) memberTLS(ctx context.Context, m Member) (*tls.Config, error) {
	if !strings.HasPrefix(first(m.ClientURLs), "https://") {
		return nil, nil
	}
	read := func(file string) ([]byte, error) {
		if file == "" {
			return nil, fmt.Errorf("%s: the etcd manifest names no TLS file for member %s: pass --cacert, --cert and --key", m.Node, m.Name)
		}
		res, err := c.Exec1(ctx, catAction(c, m.Node, file))
		return []byte(res.Stdout), err
	}
	ca, err := read(m.TrustedCAFile)
	if err != nil {
		return nil, err
	}
	crt, err := read(m.CertFile)
	if err != nil {
		return nil, err
	}
	key, err := read(m.KeyFile)
	if err != nil {
		return nil, err
	}
	return snapshot.ClientTLS(ca, crt, key, m.Node)
}

// clusterFile is the path the cluster file was loaded from, for commands
// shown to the operator; a cluster built in code has none.
func clusterFile(cl *config.Cluster) string {
	if cl.File == "" {
		return "cluster.yaml"
	}
	return cl.File
}
