package steps

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
)

// electionExec is a FAKE etcd: it answers `etcdctl endpoint status` from a
// script, because an election landing between two members' readings cannot
// be produced on demand on real members. Reading r of node n answers
// leaders[n][min(r, last)] with the cluster ID of clusters[n].
type electionExec struct {
	mu       sync.Mutex
	reads    map[string]int
	leaders  map[string][]uint64
	clusters map[string]uint64
}

func (f *electionExec) Run(_ context.Context, node string, cmd nodes.Cmd, _ func(nodes.Line)) (nodes.Result, error) {
	if !strings.Contains(strings.Join(cmd.Args, " "), "endpoint status") {
		return nodes.Result{}, fmt.Errorf("unexpected command on %s: %v", node, cmd.Args)
	}
	f.mu.Lock()
	r := f.reads[node]
	f.reads[node]++
	f.mu.Unlock()
	ls := f.leaders[node]
	if len(ls) == 0 { // a member with no quorum: etcdctl gives up
		return nodes.Result{}, fmt.Errorf("on %s, etcdctl exited with status 1: context deadline exceeded", node)
	}
	leader := ls[min(r, len(ls)-1)]
	out := fmt.Sprintf(`[{"Endpoint":"https://%s:2379","Status":{"header":{"cluster_id":%d,"member_id":1,"revision":5000},"leader":%d}}]`,
		node, f.clusters[node], leader)
	return nodes.Result{Stdout: out}, nil
}

func TestStep2WaitsOutAnElectionButNotASplitCluster(t *testing.T) {
	members := []Member{
		{Node: "cp-1", Name: "cp-1", ClientURLs: []string{"https://cp-1:2379"}},
		{Node: "cp-2", Name: "cp-2", ClientURLs: []string{"https://cp-2:2379"}},
		{Node: "cp-3", Name: "cp-3", ClientURLs: []string{"https://cp-3:2379"}},
	}
	for _, tc := range []struct {
		name     string
		leaders  map[string][]uint64
		clusters map[string]uint64
		wantErr  string
	}{
		{"members that agree at once pass",
			map[string][]uint64{"cp-1": {7}, "cp-2": {7}, "cp-3": {7}},
			map[string]uint64{"cp-1": 1, "cp-2": 1, "cp-3": 1}, ""},
		{"an election between two readings passes once they agree",
			map[string][]uint64{"cp-1": {7, 7, 9}, "cp-2": {9}, "cp-3": {0, 9}},
			map[string]uint64{"cp-1": 1, "cp-2": 1, "cp-3": 1}, ""},
		{"a member in a cluster of its own fails at the deadline",
			map[string][]uint64{"cp-1": {7}, "cp-2": {2}, "cp-3": {7}},
			map[string]uint64{"cp-1": 1, "cp-2": 2, "cp-3": 1}, "2 cluster IDs"},
		{"a member that never answers while the others do is named as likely split off",
			map[string][]uint64{"cp-1": {7}, "cp-3": {7}},
			map[string]uint64{"cp-1": 1, "cp-3": 1}, "cp-1, cp-3 answered (1 cluster ID(s)) but cp-2 never did"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Context{Cluster: &config.Cluster{}, Poll: time.Millisecond, Deadline: 200 * time.Millisecond,
				Exec: &electionExec{reads: map[string]int{}, leaders: tc.leaders, clusters: tc.clusters}}
			c.Values.Members = members
			err := verifyOneCluster(context.Background(), c, 4000)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("verify failed: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}
