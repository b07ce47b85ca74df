package steps

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes"
)

// A NodeError names its node once: an error whose own message already
// names it (the tool refusal read "cp-2: cp-2 lacks …", a held lock
// "cp-2: cp-2: /etc/… is held") gets no second "cp-2: " in front; any
// other error gets it, and an error naming another node keeps it too.
func TestANodeErrorNamesItsNodeOnce(t *testing.T) {
	const node = "cp-2"
	tools := []ToolLookup{{Name: "pgrep", Package: "procps", PackageRHEL: "procps-ng", Sudo: true, Why: "proves an apiserver stopped"}}
	tests := []struct {
		name  string
		err   error
		node  string // the NodeError's; node when empty
		exact string // the whole message, when set
	}{
		{name: "missing tools", err: &MissingTools{Node: node, Tools: tools}},
		{name: "snapshot changed", err: &SnapshotChangedError{Node: node, File: "/var/lib/etcd-dr/snap.db", Want: "aa", Got: "bb"}},
		{name: "restore failed", err: restoreFailure(Member{Node: node, Name: node, DataDir: "/var/lib/etcd"}, "/var/lib/etcd-new", nodes.Result{ExitCode: 1}, errors.New("exit 1")).(*NodeError).Err},
		{name: "lock held", err: &LockHeldError{Node: node, Path: "/etc/kubernetes/etcd-dr.lock", By: LockHolder{Holder: "ann@bastion"}}},
		{name: "lock not created", err: &LockCreateError{Node: node, Path: "/etc/kubernetes/etcd-dr.lock", Err: "No space left on device"}},
		{name: "lock lost", err: &LockLostError{Node: node, Path: "/etc/kubernetes/etcd-dr.lock"}},
		{name: "stalled copy", err: &StalledError{Node: node, Work: "copy the snapshot"}},
		{name: "a plain error is prefixed", err: errors.New("exit 1"), exact: "cp-2: exit 1"},
		{name: "another node's finding keeps the prefix", err: &MissingTools{Node: "cp-1", Tools: tools}, node: node,
			exact: "cp-2: " + (&MissingTools{Node: "cp-1", Tools: tools}).Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.node == "" {
				tt.node = node
			}
			ne := &NodeError{Node: tt.node, Err: tt.err}
			got := ne.Error()
			if tt.exact != "" {
				if got != tt.exact {
					t.Errorf("got  %q\nwant %q", got, tt.exact)
				}
				return
			}
			inner := tt.err.Error()
			if !strings.Contains(inner, node) {
				t.Fatalf("the error does not name %s itself: %q", node, inner)
			}
			if strings.Count(got, node) != strings.Count(inner, node) || strings.HasPrefix(got, node+": "+node) || strings.HasPrefix(got, node+": on "+node) {
				t.Errorf("the NodeError names %s again: %q", node, got)
			}
		})
	}
}

// The tool refusal tells the operator what to do, with Debian's and
// RHEL's package names where they differ, and where to add the directory
// of a program installed outside where the step looks.
func TestTheToolRefusalSaysWhatToInstallOrWhereToLook(t *testing.T) {
	tests := []struct {
		tool ToolLookup
		want []string
	}{
		{ToolLookup{Name: "pgrep", Package: "procps", PackageRHEL: rhelPackages["procps"], Sudo: true},
			[]string{"pgrep not found under sudo -n", "install procps (Debian, Ubuntu) or procps-ng (RHEL) on the node", "sudo's secure_path"}},
		{ToolLookup{Name: "ss", Package: "iproute2", PackageRHEL: rhelPackages["iproute2"]},
			[]string{"ss not found in the login's PATH", "install iproute2 (Debian, Ubuntu) or iproute (RHEL) on the node", "PATH the login's SSH commands get"}},
		{ToolLookup{Name: "timeout", Package: "coreutils", PackageRHEL: rhelPackages["coreutils"], Sudo: true},
			[]string{"timeout not found under sudo -n", "install coreutils on the node;", "sudo's secure_path"}},
	}
	for _, tt := range tests {
		t.Run(tt.tool.Name, func(t *testing.T) {
			got := (&NodeError{Node: "cp-2", Err: &MissingTools{Node: "cp-2", Tools: []ToolLookup{tt.tool}}}).Error()
			if !strings.HasPrefix(got, "cp-2 lacks") {
				t.Errorf("got %q, want it to start with the node once", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want %q in it", got, w)
				}
			}
		})
	}
	for _, nt := range NodeTools {
		if p, ok := rhelPackages[nt.Package]; ok && p == nt.Package {
			t.Errorf("%s: RHEL's package %q is Debian's: drop it from rhelPackages", nt.Name, p)
		}
	}
}
