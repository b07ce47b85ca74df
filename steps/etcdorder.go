package steps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// Why the members start one at a time, after every one is restored.
//
// kubeadm runs etcd with its initial corruption check on
// (--feature-gates=InitialCorruptCheck=true; --experimental-initial-corrupt-check
// before etcd 3.6). A member whose data dir already exists — every restored
// member — binds its peer port, then asks each peer in turn for its KV hash,
// and serves nothing, not even peer traffic, until it has asked them all. Each
// request waits up to etcd's request timeout (5 s + 2 election timeouts: 7 s
// by default). A peer started at the same moment is in the same check: its
// peer port accepts the connection but answers nothing, so the request runs
// into the 7 s. Members started together therefore wait 7 s for each other,
// several times over, and no leader can be elected until a quorum serves. On
// the drill lab, 7 members started together spent 18–22 s there (step 2:
// 24–31 s). Started one after another, a member finds each peer either
// serving (it answers at once) or not listening yet (refused at once): its
// check takes milliseconds.
//
// The next member starts once the previous one listens on its peer port.
// Nothing finer can be asked from outside: the client port serves only after
// the member has published itself through raft, which needs a quorum, so the
// first members of a 7-member cluster cannot answer etcdctl before the fourth
// one runs. The check that follows the bind takes milliseconds when no peer
// hangs, far less than it takes to see the port, start the next member and
// let it boot.
const (
	// memberPoll is how often a member is looked at while it stops or starts:
	// both take well under a second, and the engine's Poll (1 s) would add
	// up to a second per member started in turn.
	memberPoll = 200 * time.Millisecond
	// listenWait bounds the wait for one member's peer port before the next
	// member starts: a member that does not come up is left to the step's
	// verification, which names it, and does not hold the others back.
	listenWait = 15 * time.Second
	// leaderProbeTimeout bounds the status request that finds the leader
	// before the stop: a member that does not answer by then is not one
	// the others must wait for.
	leaderProbeTimeout = "2s"
)

// Why the leader stops last.
//
// On SIGTERM, an etcd leader first hands its leadership to the peer it has
// been connected to the longest, and waits for that peer to take over, up to
// the same 7 s request timeout. Parked together, the peers stop at the same
// moment: the transferee is going too, and the leader waits out the timeout —
// or the kubelet's grace period ends it (5 s in the lab, which kills it). On
// the drill lab that one member took 5–6 s to stop while the others took
// under one. Once its followers are gone, a leader has no peer to hand over
// to and stops at once.

// stopWaves orders the members for stopping: every follower together, then
// the leader. One wave when there is no leader to order by: preflight could
// not reach etcd (LiveRevision 0: it is not asked again, each try would cost
// the probe's timeout), or no answering member names one.
func (c *Context) stopWaves(ctx context.Context, ms []Member) [][]string {
	all := memberNodes(ms)
	if c.Values.LiveRevision == 0 || len(ms) < 2 {
		return [][]string{all}
	}
	var mu sync.Mutex
	var leader uint64
	ids := map[uint64]string{}
	// Not ForEachNode: a look at each member is not a node's part of the
	// step, and must not show in its node states.
	_ = c.parallel(ctx, 0, all, func(ctx context.Context, node string) error {
		m := memberOn(ms, node)
		if len(m.ClientURLs) == 0 {
			return nil
		}
		res, err := c.Exec1(ctx, statusActionWithin(c, m, m.ClientURLs[0], leaderProbeTimeout))
		if err != nil {
			return nil // stopped or unhealthy: not a leader to wait for
		}
		st, err := parseStatus(res)
		if err != nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		ids[st.Status.Header.MemberID] = m.Node
		if st.Status.Leader != 0 {
			leader = st.Status.Leader
		}
		return nil
	})
	ln, ok := ids[leader]
	if !ok {
		return [][]string{all}
	}
	c.Progress(ln, "etcd leader: stops after the other members, so that it has no leadership to hand over to a member that is stopping too")
	var followers []string
	for _, n := range all {
		if n != ln {
			followers = append(followers, n)
		}
	}
	return [][]string{followers, {ln}}
}

// startMembersInTurn starts the members one at a time, each once the one
// before it listens on its peer port. Not forEachNode: the scorecard keeps
// one duration per node and step, and it is the member's stop and restore
// that it should show; a start that fails is recorded, with its error.
func (c *Context) startMembersInTurn(ctx context.Context, ms []Member) error {
	var errs []error
	for _, m := range ms {
		if err := ctx.Err(); err != nil {
			errs = append(errs, &NodeError{Node: m.Node, Err: err})
			continue
		}
		c.nodeState(m.Node, Running, "")
		began := time.Now()
		_, err := c.Exec1(ctx, c.startEtcd(m.Node))
		if err == nil {
			err = c.awaitPeerListener(ctx, m)
		}
		if err != nil {
			var ne *NodeError
			if !errors.As(err, &ne) {
				err = &NodeError{Node: m.Node, Err: err}
			}
			errs = append(errs, err)
			c.report().nodeResult(c.step, m.Node, time.Since(began), err)
			c.nodeState(m.Node, Failed, err.Error())
			continue
		}
		c.nodeState(m.Node, Done, "")
	}
	return errors.Join(errs...)
}

// awaitPeerListener waits, at most listenWait, until m's etcd listens on
// its peer port. Only a cancelled run is an error here.
func (c *Context) awaitPeerListener(ctx context.Context, m Member) error {
	port := urlPort(first(m.PeerURLs), 2380)
	wctx, cancel := context.WithTimeout(ctx, listenWait)
	defer cancel()
	err := c.waitUntil(wctx, memberPoll, func(ctx context.Context) error {
		res, err := c.Exec1(ctx, Action{Node: m.Node, ReadOnly: true, What: fmt.Sprintf("look for etcd's peer listener on :%d", port),
			Cmd: nodes.Cmd{Args: []string{"ss", "-Hltn"}}})
		if err != nil {
			return err
		}
		if len(listenersOn(res.Stdout, port, urlHosts(m.PeerURLs))) == 0 {
			return fmt.Errorf("nothing listens on :%d yet", port)
		}
		return nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.CheckFact(m.Node, fmt.Sprintf("etcd member %s listens on :%d before the next member starts", m.Name, port), err == nil, "",
		factIf(CompEtcd, err == nil, CompUp, CompDown))
	if err != nil {
		c.Progress(m.Node, fmt.Sprintf("etcd member %s does not listen on :%d after %s (%v); starting the next member, the verification will say more",
			m.Name, port, listenWait, err))
	}
	return nil
}
