package lab

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// FaultMajorityLost destroys every etcd member but one (issue 20): the
// cluster has no quorum, no apiserver works, and the writes made after
// snapshot.db exist only in the survivor's data dir.
const FaultMajorityLost = "majority-lost"

// labDataDir is where every lab member keeps its data (templates).
const labDataDir = "/var/lib/etcd"

// MajorityLost destroys every etcd member but survivor, as a lost disk
// does: the member's data dir is emptied and a plain file left where its
// member dir was (what a damaged filesystem leaves), then its etcd is
// killed. The kubelet (or the unit) starts etcd again, and etcd exits at
// once, as it does when it cannot create its member dir ("cannot access
// member directory"), so the member stays down through preflight: a real
// crash loop, not a lab knob. (An empty data dir would not do: etcd would
// bootstrap or rejoin from the survivor and heal the cluster.) The dir
// emptied is the lab's own, inside the node's overlay.
//
// It first waits until the survivor has applied every entry the cluster
// committed, so "the writes after the snapshot live on in the survivor" is
// a fact of the drill, not a race with replication.
func (l *Lab) MajorityLost(ctx context.Context, survivor string) error {
	members := l.opts.members()
	if len(members) < 3 {
		return fmt.Errorf("lab: %s needs 3 or more etcd members, the lab has %d", FaultMajorityLost, len(members))
	}
	found := false
	for _, m := range members {
		found = found || m.Name == survivor
	}
	if !found {
		return fmt.Errorf("lab: %s@%s: %s is not an etcd member", FaultMajorityLost, survivor, survivor)
	}
	if err := l.waitCaughtUp(ctx, survivor); err != nil {
		return err
	}
	for _, m := range members {
		if m.Name == survivor {
			continue
		}
		n, err := l.node(m.Name)
		if err != nil {
			return err
		}
		// Replace the dir before the kill: the timeline's digest of the data
		// dir, taken when etcd exits, is then the lost disk's, which no later
		// step may change (lab verify's old-data-dirs-untouched).
		out, err := n.command(ctx, "sh", "-c", `set -e; d="$1"
find "$d" -mindepth 1 -delete
printf 'lab fault %s: this member'"'"'s disk is gone\n' "$2" >"$d/member"
pkill -KILL -x etcd || true`, "majority-lost", labDataDir, FaultMajorityLost).CombinedOutput()
		if err != nil {
			return fmt.Errorf("lab: %s on %s: %w: %s", FaultMajorityLost, m.Name, err, out)
		}
	}
	return nil
}

// waitCaughtUp waits until survivor's etcd has applied the highest index
// any member has committed.
func (l *Lab) waitCaughtUp(ctx context.Context, survivor string) error {
	var eps []string
	byName := map[string]string{}
	for _, m := range l.opts.members() {
		ep := "https://" + l.nodes[m.Name].spec.Addr + ":2379"
		eps, byName[m.Name] = append(eps, ep), ep
	}
	cfg, err := etcdClientConfig(l.opts.Dir, eps)
	if err != nil {
		return err
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // replication takes milliseconds; a loaded machine, seconds
	defer cancel()
	for {
		var committed, applied uint64
		var last error
		for name, ep := range byName {
			st, err := cli.Status(ctx, ep)
			if err != nil {
				last = err
				continue
			}
			committed = max(committed, st.RaftIndex)
			if name == survivor {
				applied = st.RaftAppliedIndex
			}
		}
		if applied > 0 && applied >= committed {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: %s: %s never applied index %d (at %d; last error %v)", FaultMajorityLost, survivor, committed, applied, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func injectMajorityLost(ctx context.Context, l *Lab, node string) (func() error, error) {
	return nil, l.MajorityLost(ctx, node)
}
