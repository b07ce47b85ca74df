package steps

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes"
)

func TestARestoreFailureLeadsWithTheCauseAndLeavesTheScriptToTheTranscript(t *testing.T) {
	m := Member{Node: "cp-2", Name: "cp-2", DataDir: "/var/lib/etcd"}
	script := "sudo -n -- sh -c 'set -e; new=\"$1\"; mark=...' etcd-dr /var/lib/etcd-restored etcdutl snapshot restore"
	for _, tc := range []struct {
		name string
		res  nodes.Result
		err  error
		want string
	}{
		{"etcdutl's Error line is the cause even when it logged lines after it",
			nodes.Result{ExitCode: 1, Stderr: "{\"level\":\"info\"}\nError: write /var/lib/etcd-restored/member/wal/0.tmp: no space left on device\n"},
			&nodes.ExitError{Node: "cp-2", Code: 1, Cmd: script},
			"failed: write /var/lib/etcd-restored/member/wal/0.tmp: no space left on device; "},
		{"the script's own refusal is the cause when etcdutl never ran",
			nodes.Result{ExitCode: 3, Stderr: "refusing: /var/lib/etcd-restored already exists and is not this run's restore\n"},
			&nodes.ExitError{Node: "cp-2", Code: 3, Cmd: script},
			"failed: refusing: /var/lib/etcd-restored already exists"},
		{"a timeout says how long it ran and that it was stopped",
			nodes.Result{ExitCode: -1},
			&nodes.TimeoutError{Node: "cp-2", After: 20 * time.Second, Cmd: script},
			"failed: it did not finish within 20s"},
		{"sudo's host warning is not the cause of a silent failure",
			nodes.Result{ExitCode: 2, Stderr: "sudo: unable to resolve host cp-2: Name or service not known\n"},
			&nodes.ExitError{Node: "cp-2", Code: 2, Cmd: script},
			"failed: exit status 2 with no error output"},
		{"the script's refusal is the cause after sudo's host warning",
			nodes.Result{ExitCode: 3, Stderr: "sudo: unable to resolve host cp-2: Name or service not known\nrefusing: /var/lib/etcd-restored already exists and is not this run's restore\n"},
			&nodes.ExitError{Node: "cp-2", Code: 3, Cmd: script},
			"failed: refusing: /var/lib/etcd-restored already exists"},
		{"a silent non-zero exit says so",
			nodes.Result{ExitCode: 2},
			&nodes.ExitError{Node: "cp-2", Code: 2, Cmd: script},
			"failed: exit status 2 with no error output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := restoreFailure(m, "/var/lib/etcd-restored", tc.res, tc.err)
			msg := err.Error()
			if !strings.HasPrefix(msg, "on cp-2, etcdutl snapshot restore of member cp-2 failed: ") { // the node once
				t.Errorf("does not lead with the node and what failed: %s", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("lacks %q: %s", tc.want, msg)
			}
			if !strings.Contains(msg, "new data dir /var/lib/etcd-restored is kept for inspection and is not used: etcd still points at /var/lib/etcd") {
				t.Errorf("does not say what became of the new data dir: %s", msg)
			}
			if strings.Contains(msg, "sh -c") || strings.Contains(msg, "mark=") {
				t.Errorf("repeats the remote script: %s", msg)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the transport's error is not kept for errors.Is/As")
			}
		})
	}
}
