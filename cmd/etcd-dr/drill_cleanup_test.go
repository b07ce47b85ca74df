package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// This file's labs use blocks 130–139 of 127.B.x.y.

// A drill run without --dir makes its own temporary directory: a finished
// drill removes it, so drills do not pile up lab trees (etcd data dirs,
// logs, keys) in /tmp; with --keep everything stays, the lab still running.
func TestADrillRemovesTheTemporaryDirItMadeUnlessKept(t *testing.T) {
	t.Parallel() // each case claims its own lab block
	for _, tc := range []struct {
		name  string
		block string
		keep  bool
	}{
		{"without --keep the drill's directory is gone once it succeeded", "130", false},
		{"with --keep the directory and the lab stay", "131", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			labtest.Block(t, mustAtoi(t, tc.block))
			tmp := t.TempDir()
			args := []string{"drill", "--headless", "--block", tc.block, "--workers", "1"}
			if tc.keep {
				args = append(args, "--keep")
			}
			// The drill is a real etcd-dr process (this binary as the CLI,
			// main_test.go) given its own TMPDIR: the temporary dir is the
			// drill's choice, and TMPDIR is the only way to point it
			// somewhere the test can look, without changing this process's
			// environment under the tests running beside this one.
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); cmd.ProcessState == nil {
				t.Fatalf("start the drill: %v", err)
			}
			code := cmd.ProcessState.ExitCode()
			dirs, _ := filepath.Glob(filepath.Join(tmp, "etcd-dr-drill-*"))
			for _, d := range dirs {
				t.Cleanup(func() {
					if err := lab.Down(d); err != nil && !strings.Contains(err.Error(), "no lab") {
						t.Errorf("lab down %s: %v", d, err)
					}
				})
			}
			if code != exitOK {
				t.Fatalf("drill exit %d\nstderr (tail):\n%s", code, tail(errb.String(), 40))
			}
			// The invariants were checked in the verify step; they are still
			// printed after the run, as lab verify prints them.
			for _, name := range []string{lab.CheckNoRestoreWhileApiserver, lab.CheckObjects} {
				if !strings.Contains(out.String(), "ok    "+name) {
					t.Errorf("stdout lacks invariant %s as passed:\n%s", name, &out)
				}
			}
			switch {
			case !tc.keep && len(dirs) != 0:
				t.Errorf("the drill left %v behind\nstderr (tail):\n%s", dirs, tail(errb.String(), 10))
			case !tc.keep && !strings.Contains(errb.String(), "removed the lab's directory"):
				t.Errorf("the drill does not say it removed its directory:\n%s", tail(errb.String(), 10))
			case tc.keep && len(dirs) != 1:
				t.Errorf("--keep left %d drill directories, want 1", len(dirs))
			case tc.keep:
				if _, err := os.Stat(filepath.Join(dirs[0], "cluster.yaml")); err != nil {
					t.Errorf("--keep did not keep the lab's files: %v", err)
				}
			}
		})
	}
}
