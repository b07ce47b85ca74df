package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// Rollback after a real restore takes the members back to their old data
// dirs: the objects written after the snapshot — gone after the restore —
// are served again, from one healthy etcd cluster. lab verify's own checks
// are the evidence, read the other way round.
func TestRollbackAfterADrillServesThePreRestoreStateAgain(t *testing.T) {
	labtest.Block(t, 42)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	if code := run([]string{"drill", "--headless", "--keep", "--dir", dir, "--block", "42", "--workers", "1"}, &out, &errb); code != exitOK {
		t.Fatalf("drill exit %d\n%s\n%s", code, &out, tail(errb.String(), 40))
	}
	out.Reset()
	errb.Reset()
	cluster := filepath.Join(dir, "cluster.yaml")
	if code := run([]string{"rollback", "-f", cluster, "--headless", "--confirm", "drill"}, &out, &errb); code != exitOK {
		t.Fatalf("rollback exit %d\n%s\n%s", code, &out, tail(errb.String(), 40))
	}
	if !strings.Contains(out.String(), "rollback-done        done") {
		t.Errorf("rollback scorecard lacks its last step done:\n%s", &out)
	}
	rep, err := lab.Verify(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]lab.Check{}
	for _, c := range rep.Checks {
		byName[c.Name] = c
	}
	if c := byName[lab.CheckEtcdHealthy]; !c.OK {
		t.Errorf("after rollback etcd is not one healthy cluster: %s", c.Detail)
	}
	if c := byName[lab.CheckObjects]; c.OK || !strings.Contains(c.Detail, "survived") {
		t.Errorf("after rollback the post-snapshot objects should be served again (old data back); got ok=%v: %s", c.OK, c.Detail)
	}
}
