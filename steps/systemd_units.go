package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// systemd mode as kubespray installs it: etcd.service is Type=notify, and
// etcd notifies systemd only once it serves clients, which needs a quorum.
// A blocking `systemctl start etcd` on the first member therefore waits for
// members that are not started yet, until TimeoutStartSec (90 s by
// default), when systemd kills it and the start fails. So the members are
// started with --no-block (startEtcd) and waited for as static pods are:
// their peer port in turn, then every member answering.

// UnitFailed is a member whose unit systemd reports failed or not started
// when the member never answered: the reason is systemd's, not etcd's.
type UnitFailed struct {
	Node, Unit, ActiveState, Result string
	Err                             error
}

func (e *UnitFailed) Error() string {
	return fmt.Sprintf("%v; %s.service on %s is %s (Result=%s): systemd did not get etcd to start — "+
		"a Type=notify unit whose etcd does not report ready (it needs a quorum of members) within TimeoutStartSec is killed. "+
		"See `sudo systemctl status %s` and `sudo journalctl -u %s` on %s",
		e.Err, e.Unit, e.Node, e.ActiveState, e.Result, e.Unit, e.Unit, e.Node)
}

func (e *UnitFailed) Unwrap() error { return e.Err }

// explainUnit adds systemd's view to a member that never answered, in
// systemd mode; err is returned as it is otherwise.
func (c *Context) explainUnit(ctx context.Context, node string, err error) error {
	if err == nil || !c.systemd() || ctx.Err() != nil {
		return err
	}
	res, qerr := c.Exec1(ctx, Action{Node: node, What: "ask systemd about " + c.unit() + ": etcd never answered",
		Cmd:    nodes.Cmd{Args: []string{"systemctl", "show", c.unit(), "-p", "ActiveState", "-p", "Result"}},
		Accept: func(nodes.Result) error { return nil }})
	if qerr != nil {
		return err
	}
	props := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			props[k] = v
		}
	}
	state, result := props["ActiveState"], props["Result"]
	if state == "active" || state == "" {
		return err
	}
	return &UnitFailed{Node: node, Unit: c.unit(), ActiveState: state, Result: result, Err: err}
}
