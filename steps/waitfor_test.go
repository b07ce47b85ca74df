package steps

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// A post-condition loop must give up on a node that is gone at once (the
// operator hears within seconds and the gate offers retry), and keep
// polling anything that time can fix.
func TestWaitForStopsAtOnceOnANodeThatIsGoneAndPollsTheRest(t *testing.T) {
	gone := &nodes.ConnectError{Node: "cp-2", Addr: "10.0.0.12:22", Err: errors.New("connect to node cp-2: connection refused")}
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int // calls before WaitFor returns
	}{
		{"a node whose SSH cannot be reached", gone, 1},
		{"a node that stopped answering keepalives", &nodes.NodeDeadError{Node: "cp-2", Addr: "10.0.0.12:22", Silence: 10 * time.Second}, 1},
		{"a node whose host key changed", &nodes.HostKeyError{Node: "cp-2", Host: "10.0.0.12", Port: "22"}, 1},
		{"a gone node wrapped by the check", fmt.Errorf("find kube-scheduler: %w", gone), 1},
		{"a process that has not stopped yet", errors.New("kube-apiserver still running: pid 42"), 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Context{Poll: time.Millisecond, Deadline: time.Hour}
			calls := 0
			err := c.WaitFor(context.Background(), "kube-apiserver stopped on cp-2", func(context.Context) error {
				calls++
				if calls == 4 {
					return nil // time fixed it
				}
				return tc.err
			})
			if calls != tc.wantCalls {
				t.Fatalf("check called %d times, want %d (err %v)", calls, tc.wantCalls, err)
			}
			if tc.wantCalls == 1 && !errors.Is(err, tc.err) && !errors.As(err, new(*nodes.ConnectError)) {
				t.Fatalf("err = %v, want it to wrap %v", err, tc.err)
			}
		})
	}
}
