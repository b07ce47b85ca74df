package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
)

// Issue 14: etcd.service with User=etcd (older kubespray units, distro
// packages). etcdutl runs under sudo and creates the restored data dir
// root:root 0700, which etcd running as user etcd cannot open: a restore
// that does not give the new dir the old one's owner leaves every member
// unable to start, after the destructive steps. On a lab whose units run
// etcd as user etcd the drill passes, every restored data dir is etcd's and
// 0700, and every etcd started after the restore runs with etcd's uid.
// Lab block 190.
func TestADrillOnUnitsRunningEtcdAsUserEtcdGivesTheRestoredDirsToThatUser(t *testing.T) {
	labtest.Block(t, 190)
	dir := filepath.Join(t.TempDir(), "lab")
	t.Cleanup(func() {
		if err := lab.Down(dir); err != nil && !strings.Contains(err.Error(), "no lab") {
			t.Errorf("lab down: %v", err)
		}
	})
	var out, errb bytes.Buffer
	args := []string{"drill", "--headless", "--keep", "--dir", dir, "--block", "190", "--topology", "external",
		"--etcd-mode", "systemd", "--etcd-user", "etcd", "--nodes", "1", "--workers", "0"}
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("drill exit %d\nstdout:\n%s\nstderr (tail):\n%s", code, &out, tail(errb.String(), 60))
	}
	evs, err := lab.ReadTimeline(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		node := fmt.Sprintf("etcd-%d", i)
		upper := filepath.Join(dir, "nodes", node, "upper")
		uid := passwdUID(t, filepath.Join(upper, "etc", "passwd"), "etcd")
		env, err := os.ReadFile(filepath.Join(upper, "etc", "etcd.env"))
		if err != nil {
			t.Fatal(err)
		}
		dataDir := envValue(string(env), "ETCD_DATA_DIR")
		if dataDir == "/var/lib/etcd" || dataDir == "" {
			t.Fatalf("%s: /etc/etcd.env still names %q: the drill did not restore into a new dir", node, dataDir)
		}
		for _, d := range []string{"/var/lib/etcd", dataDir} {
			fi, err := os.Stat(filepath.Join(upper, d))
			if err != nil {
				t.Fatal(err)
			}
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid || int(st.Gid) != uid || fi.Mode().Perm() != 0o700 {
				t.Errorf("%s: %s is %d:%d %o, want etcd's %d:%d 0700", node, d, st.Uid, st.Gid, fi.Mode().Perm(), uid, uid)
			}
		}
		// The member's process now: the last etcd the unit started.
		pid := 0
		for _, e := range evs {
			if e.Node == node && e.Kind == lab.EvPodStart && e.Pod == "etcd" {
				pid = e.PID
			}
		}
		if got := procUID(t, pid); got != uid {
			t.Errorf("%s: etcd (pid %d) runs as uid %d, want etcd's %d", node, pid, got, uid)
		}
	}
	if !strings.Contains(out.String(), "ok    old-data-dirs-untouched") {
		t.Errorf("scorecard lacks the old data dirs' invariant:\n%s", &out)
	}
}

// passwdUID is user's uid in a node's /etc/passwd.
func passwdUID(t *testing.T, file, user string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p := strings.Split(line, ":"); len(p) > 2 && p[0] == user {
			uid, err := strconv.Atoi(p[2])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("%s has no user %s", file, user)
	return -1
}

func envValue(env, key string) string {
	for _, line := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// procUID is the real uid of a running host process.
func procUID(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("etcd pid %d: %v", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("pid %d: no Uid line", pid)
	return -1
}
