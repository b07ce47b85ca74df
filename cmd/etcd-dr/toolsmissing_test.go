package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// A node whose sudo does not find a program a later step runs there (not
// installed, or outside sudo's secure_path) is refused in preflight, naming
// the node (once) and the program, before anything is changed: before this,
// preflight never looked, and a control-plane node without pgrep under sudo
// failed step 1 with its apiserver already stopped. Each fault is the lab's
// registered one (`drill --fault NAME`), lifted before the next case; check
// names the same program in its TOOLS column, from the same lookup, even
// timeout, which its sudo probe runs in too (sudo answered: a tools finding).
func TestANodeLackingAProgramUnderSudoIsRefusedInPreflightNamingNodeAndProgram(t *testing.T) {
	refusedForMissingTools(t, 160, []missingToolCase{
		// step 1's pgrep runs right after the apiserver's manifest is parked
		{"no-pgrep-under-sudo", "cp-2", "pgrep", true},
		// step 5's `systemctl restart kubelet`, after the restore
		{"no-systemctl-under-sudo", "w-1", "systemctl", true},
		// the runner's own wrapper, around every command run under sudo
		{"no-timeout-under-sudo", "w-1", "timeout", true},
	})
}

// A node whose login's PATH lacks a program a step runs as the login
// (step 1's ss on a control-plane node: iproute2 not installed, as on a
// minimal image) is refused in preflight the same way: the lab's fault
// gives the login's SSH commands a PATH without ss, for real.
func TestANodeLackingAProgramOnItsLoginPATHIsRefusedInPreflightNamingNodeAndProgram(t *testing.T) {
	refusedForMissingTools(t, 186, []missingToolCase{
		{"no-ss-on-login-path", "cp-2", "ss", false},
	})
}

type missingToolCase struct {
	fault, node, tool string
	sudo              bool // missing under sudo, else on the login's PATH
}

func refusedForMissingTools(t *testing.T, block int, cases []missingToolCase) {
	labtest.Block(t, block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a cold lab on loaded cores, then up to three refused runs
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: block, Workers: 1})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	for _, tc := range cases {
		t.Run(tc.fault, func(t *testing.T) {
			f, ok := lab.FaultByName(tc.fault)
			if !ok {
				t.Fatalf("no registered fault %s", tc.fault)
			}
			lift, err := f.Inject(ctx, l, tc.node)
			must(t, err)
			defer func() { must(t, lift()) }()
			cluster := clusterWith(t, l, tc.fault, filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
			how := (steps.ToolLookup{Sudo: tc.sudo}).How()

			// check: the node's row fails, its TOOLS column names the
			// program, its SUDO column says sudo answered.
			var out, errb bytes.Buffer
			code := run([]string{"check", "-f", cluster, "-o", "json"}, &out, &errb)
			var got struct{ Nodes []nodeCheck }
			must(t, json.Unmarshal(out.Bytes(), &got))
			if code != exitFailed {
				t.Errorf("check exit %d, want %d", code, exitFailed)
			}
			for _, n := range got.Nodes {
				cell := toolsCell(n.Tools)
				if want := n.Node == tc.node; want != strings.Contains(cell, tc.tool) || want == n.OK || n.Sudo != "ok" {
					t.Errorf("check row %s: TOOLS %q, SUDO %q, ok %v, problems %q (the fault is on %s only)", n.Node, cell, n.Sudo, n.OK, n.Problems, tc.node)
				}
				for _, tl := range n.Tools {
					if n.Node == tc.node && tl.Name == tc.tool && tl.Sudo == tc.sudo && tl.Found {
						t.Errorf("check found %s %s on %s at %s", tc.tool, how, n.Node, tl.Path)
					}
				}
			}

			before := nodeState(t, l.Dir())
			start := time.Now()
			saw, err := runEngine(t, cluster, 0)
			requireRefusedInPreflight(t, l, saw, err, start, tc.node+" lacks programs", tc.tool+" not found "+how, "on the node;")
			if err != nil && strings.Contains(saw+err.Error(), tc.node+": "+tc.node) {
				t.Errorf("the refusal names %s twice: %v", tc.node, err)
			}
			// What a client reads: the journal's typed check record
			// (node, check, state), on the faulty node only.
			recs, err := journal.ReadFile(filepath.Join(l.Dir(), "state-"+tc.fault, "drill", "journal.jsonl"))
			must(t, err)
			var failed []string
			for _, r := range recs {
				if r.Kind == journal.KindCheck && r.Check == steps.CheckToolsFound && r.Step == string(steps.Preflight) && r.State != "ok" {
					failed = append(failed, r.Node+": "+r.Why)
				}
			}
			if len(failed) != 1 || !strings.HasPrefix(failed[0], tc.node+": ") || !strings.Contains(failed[0], tc.tool) {
				t.Errorf("failed %q check records %q, want one on %s naming %s", steps.CheckToolsFound, failed, tc.node, tc.tool)
			}
			// The apiserver manifests (and every other file under
			// /etc/kubernetes, /var/lib) are as they were.
			if after := nodeState(t, l.Dir()); !mapsEqual(before, after) {
				t.Errorf("a node changed during the refused run:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// check reads its sudo probe as preflight does, and no further: a sudo
// that wants a password stays a failed SUDO (not a tools finding), named
// with the fix, its TOOLS not looked up; only a sudo that answered but
// found no timeout becomes a tools finding (the block-160 test).
func TestCheckKeepsASudoWantingAPasswordAFailedSudo(t *testing.T) {
	labtest.Block(t, 187)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a cold lab on loaded cores
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: 187, Workers: 1})
	must(t, err)
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	f, ok := lab.FaultByName("sudo-password")
	if !ok {
		t.Fatal("no registered fault sudo-password")
	}
	lift, err := f.Inject(ctx, l, "cp-2")
	must(t, err)
	defer func() { must(t, lift()) }()
	cluster := clusterWith(t, l, "sudo-password", filepath.Join(l.Dir(), "snapshot.db"), config.SnapshotOnBastion)
	var out, errb bytes.Buffer
	code := run([]string{"check", "-f", cluster, "-o", "json"}, &out, &errb)
	var got struct{ Nodes []nodeCheck }
	must(t, json.Unmarshal(out.Bytes(), &got))
	if code != exitFailed {
		t.Errorf("check exit %d, want %d", code, exitFailed)
	}
	for _, n := range got.Nodes {
		if n.Node != "cp-2" {
			continue
		}
		if n.Sudo != "FAILED" || toolsCell(n.Tools) != "-" || n.OK || !strings.Contains(strings.Join(n.Problems, "\n"), "NOPASSWD") {
			t.Errorf("check row cp-2: SUDO %q, TOOLS %q, ok %v, problems %q; want sudo failed with the fix, tools not looked up", n.Sudo, toolsCell(n.Tools), n.OK, n.Problems)
		}
	}
}
