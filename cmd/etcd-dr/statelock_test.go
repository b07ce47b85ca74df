package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/nodetest"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// silentNode listens and accepts but never speaks SSH: a run against it
// stays in preflight (holding its state-dir lock) until connectTimeout.
func silentNode(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// silentCluster is a cluster file whose only node is a silentNode; its
// SSH connect timeout outlasts the test (the first run must stay alive).
func silentCluster(t *testing.T) (file, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	addr := silentNode(t)
	host, port := nodetest.HostPort(t, addr)
	client := nodetest.NewKey(t)
	key := client.WriteFile(t, dir, "id_ed25519", 0o600, "")
	kh := filepath.Join(dir, "known_hosts")
	nodetest.AppendKnownHosts(t, kh, addr, client.Signer.PublicKey()) // any key: the node never shows one
	snap := filepath.Join(dir, "snapshot.db")
	if err := os.WriteFile(snap, []byte("never read: the run stays at its first SSH dial"), 0o600); err != nil {
		t.Fatal(err)
	}
	stateDir = filepath.Join(dir, "state")
	file = filepath.Join(dir, "cluster.yaml")
	yaml := fmt.Sprintf(`cluster: two-consoles
snapshot: {path: %s}
ssh: {user: ops, port: %d, identityFiles: [%s], knownHosts: %s, sudo: false, connectTimeout: 10m, config: none}
state: {dir: %s}
nodes:
  - {name: cp-1, address: %s, roles: [control-plane, etcd]}
`, snap, port, key, kh, stateDir, host)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, stateDir
}

// Two consoles on one run (issue 15 item 1): while a real `etcd-dr run`
// drives the run of a state dir, a second `run` or `rollback` on the same
// state dir and cluster is refused at once, naming the holder's pid and
// what to do, and writes nothing to the journal; read-only commands still
// work. Once the holder is killed (-9) the kernel has released the lock.
func TestASecondConsoleOnTheSameStateDirIsRefusedAtOnceNamingTheHolder(t *testing.T) {
	file, stateDir := silentCluster(t)
	jpath := journal.FilePath(stateDir, "two-consoles")
	first := startCLI(t, "run", "-f", file, "--headless", "--confirm", "two-consoles")
	first.waitLine(t, "the first run starting preflight", func(l string) bool { return strings.Contains(l, "preflight") })
	waitJournal(t, jpath, "step", "running") // then it waits on its first SSH dial
	before, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"run", "-f", file, "--headless", "--confirm", "two-consoles"},
		{"run", "-f", file, "--headless", "--confirm", "two-consoles", "--new-run", "--force-unlock"},
		{"rollback", "-f", file, "--headless", "--confirm", "two-consoles"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			second := startCLI(t, args...)
			// Generous for a loaded machine, yet far below the holder's
			// 10-minute dial: the refusal must not wait for the holder.
			select {
			case <-second.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("a second etcd-dr on the same state dir still runs after 60s:\n%s", tail(second.transcript(), 20))
			}
			if second.code == exitOK {
				t.Fatalf("a second etcd-dr on the same state dir was not refused:\n%s", second.transcript())
			}
			msg := second.transcript()
			for _, want := range []string{"console.lock", "pid " + strconv.Itoa(first.cmd.Process.Pid), "still running",
				"ps -fp " + strconv.Itoa(first.cmd.Process.Pid), "No flag takes this lock"} {
				if !strings.Contains(msg, want) {
					t.Errorf("the refusal does not say %q:\n%s", want, msg)
				}
			}
		})
	}
	after, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("a refused process wrote to the journal:\n%s", after[len(before):])
	}
	var out, errb bytes.Buffer
	if code := run([]string{"plan", "-f", file}, &out, &errb); code != exitOK {
		t.Errorf("plan (read-only) was refused while a run holds the state dir: exit %d\n%s", code, &errb)
	}

	_ = first.cmd.Process.Kill()
	first.wait(t)
	l, err := journal.LockState(stateDir, "two-consoles", journal.ThisProcess("test@bastion", time.Now()))
	var held *journal.StateLockHeldError
	if errors.As(err, &held) {
		t.Fatalf("the lock outlived its holder's kill -9: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
