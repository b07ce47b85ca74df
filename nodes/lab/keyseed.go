package lab

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"
)

// EtcdClient is an etcd client of the lab's members as their nodes'
// configuration names them now (after a drill that moved them too), with
// the bastion's client certificate: for tests that write or read etcd
// directly, as a client beside the apiservers would. Close it when done.
func (l *Lab) EtcdClient() (*clientv3.Client, error) {
	st, err := ReadStatus(l.opts.Dir)
	if err != nil {
		return nil, err
	}
	eps := memberEndpoints(st)
	if len(eps) == 0 {
		return nil, fmt.Errorf("lab: no etcd member found in the nodes' configuration under %s", l.opts.Dir)
	}
	cfg, err := etcdClientConfig(l.opts.Dir, eps)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("lab: etcd client: %w", err)
	}
	return cli, nil
}

// Raw keys seeded by Options.Keys: KeysPrefix + a zero-padded index, so
// they sort in the order written. They live outside /registry/, where the
// apiservers never read them.
const KeysPrefix = "/lab/keys/"

// keysPerTxn stays within etcd's default --max-txn-ops (128), txnBytes
// well within its default --max-request-bytes (1.5 MiB).
const (
	keysPerTxn = 128
	txnBytes   = 1 << 20
)

// seedKeysBefore writes n raw keys in batched transactions through the
// etcd client, several at once: 100k keys take seconds, not the minutes
// one put each would.
func seedKeysBefore(ctx context.Context, cli *clientv3.Client, n, valueBytes int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for start := 0; start < n; {
		end, size := start, 0
		for end < n && end-start < keysPerTxn && (end == start || size+rawValueBytes(end, valueBytes) <= txnBytes) {
			size += rawValueBytes(end, valueBytes)
			end++
		}
		from := start // the loop moves start on below, before this runs
		g.Go(func() error {
			ops := make([]clientv3.Op, 0, end-from)
			for i := from; i < end; i++ {
				ops = append(ops, clientv3.OpPut(seedKey(i), rawValue(i, valueBytes, "before the snapshot")))
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := cli.Txn(tctx).Then(ops...).Commit(); err != nil {
				return fmt.Errorf("lab seed: keys %s..%s: %w", seedKey(from), seedKey(end-1), err)
			}
			return nil
		})
		start = end
	}
	return g.Wait()
}

// keyChangesAfter are the raw-key writes after the snapshot, one of each
// kind a restore undoes: new keys (dropped), changed keys (rolled back)
// and deleted keys (brought back). The prefix's count after a restore is
// exactly the count before the snapshot.
const keyChangesAfter = 5

func seedKeysAfter(ctx context.Context, cli *clientv3.Client, n, valueBytes int) error {
	var ops []clientv3.Op
	for i := range min(keyChangesAfter, n) {
		ops = append(ops, clientv3.OpPut(KeysPrefix+fmt.Sprintf("post-snapshot-%d", i), "after the snapshot"))
		if n > 2*keyChangesAfter { // a changed key must not also be deleted
			ops = append(ops, clientv3.OpPut(seedKey(i), rawValue(i, valueBytes, "changed after the snapshot")), clientv3.OpDelete(seedKey(n-1-i)))
		}
	}
	if len(ops) == 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cli.Txn(tctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("lab seed: key writes after the snapshot: %w", err)
	}
	return nil
}

func seedKey(i int) string { return fmt.Sprintf("%s%08d", KeysPrefix, i) }
