package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// endpointStatus is one entry of `etcdctl endpoint status -w json`.
type endpointStatus struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
		} `json:"header"`
		Leader uint64 `json:"leader"`
	} `json:"Status"`
}

// statusAction asks m's own etcd, from its node, with its TLS files.
func statusAction(c *Context, m Member, endpoint string) Action {
	return statusActionWithin(c, m, endpoint, "5s")
}

// statusActionWithin is statusAction giving up after timeout (etcdctl's
// --command-timeout, which bounds the dial too).
func statusActionWithin(c *Context, m Member, endpoint, timeout string) Action {
	args := append(etcdctlArgs(m, endpoint), "--command-timeout="+timeout, "endpoint", "status", "-w", "json")
	return Action{Node: m.Node, What: "etcd status of " + m.Name, ReadOnly: true, Cmd: sudo(c.Cluster, args...)}
}

// etcdctlArgs is the start of every etcdctl command line the engine runs on
// m's node: the binary preflight chose and proved there (m.Etcdctl, see
// decideTools), the endpoint and m's own client TLS files. Every etcdctl use
// goes through it, so where etcdctl comes from is decided once.
func etcdctlArgs(m Member, endpoint string) []string {
	args := []string{m.etcdctl(), "--endpoints=" + endpoint}
	if m.TrustedCAFile != "" {
		args = append(args, "--cacert="+m.TrustedCAFile)
	}
	if m.CertFile != "" {
		args = append(args, "--cert="+m.CertFile, "--key="+m.KeyFile)
	}
	return args
}

// memberStatus runs statusAction and decodes its single entry.
func (c *Context) memberStatus(ctx context.Context, m Member) (endpointStatus, error) {
	if len(m.ClientURLs) == 0 {
		return endpointStatus{}, fmt.Errorf("member %s has no client URL", m.Name)
	}
	return c.statusAt(ctx, m, m.ClientURLs[0])
}

func (c *Context) statusAt(ctx context.Context, m Member, endpoint string) (endpointStatus, error) {
	res, err := c.Exec1(ctx, statusAction(c, m, endpoint))
	if err != nil {
		return endpointStatus{}, err
	}
	return parseStatus(res)
}

func parseStatus(res nodes.Result) (endpointStatus, error) {
	var st []endpointStatus
	if err := json.Unmarshal([]byte(res.Stdout), &st); err != nil || len(st) != 1 {
		return endpointStatus{}, fmt.Errorf("etcdctl endpoint status printed no status: %q", clip(res.Stdout))
	}
	return st[0], nil
}
