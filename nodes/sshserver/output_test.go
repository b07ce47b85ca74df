package sshserver

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What a command writes reaches the client whole, however slowly the client
// reads: the server once answered a command under load with exit 0 and no
// output, because os/exec's WaitDelay (2 s after the process exited) closed
// the output pipes while their copy to the channel was still waiting on the
// SSH window. Background children still cannot hold the channel open: those
// in the command's process group die with it, and one that left the group
// (setsid) is cut off once the pipe stays idle.
func TestACommandsOutputIsNeverDropped(t *testing.T) {
	const big = 8 << 20 // 4x the client's 2 MiB channel window
	for _, tc := range []struct {
		name string
		cmd  string
		// The client stops reading after pauseAt bytes: then its 2 MiB
		// window is full and the last 80 KiB wait in the server's pipe and
		// copy buffer, the command having exited.
		pauseAt int
		pause   time.Duration // ...for this long (past the 2 s the server used to wait)
		want    func(string) bool
	}{
		{"output written after a delay arrives", "sleep 1; echo late", 0, 0,
			func(s string) bool { return s == "late\n" }},
		{"a lot of output, read by a client that pauses once the command has exited, arrives whole",
			"head -c " + strconv.Itoa(big) + " /dev/zero", big - 2<<20 - 80<<10, 5 * time.Second,
			func(s string) bool { return len(s) == big && strings.Count(s, "\x00") == big }},
		{"a background child in the group does not hold the channel", "sleep 60 & echo hi", 0, 0,
			func(s string) bool { return s == "hi\n" }},
		{"a child that left the group does not hold it either", "setsid sleep 60 & echo hi", 0, 0,
			func(s string) bool { return s == "hi\n" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := start(t, nil)
			c := f.dial(t)
			sess, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			out, err := sess.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.Start(tc.cmd); err != nil {
				t.Fatal(err)
			}
			type result struct {
				out []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				var b bytes.Buffer
				if tc.pauseAt > 0 {
					if _, err := io.CopyN(&b, out, int64(tc.pauseAt)); err != nil {
						done <- result{b.Bytes(), err}
						return
					}
					time.Sleep(tc.pause)
				}
				_, err := io.Copy(&b, out)
				if err == nil {
					err = sess.Wait()
				}
				done <- result{b.Bytes(), err}
			}()
			// Generous: far below the children's 60 s, which a channel held
			// open by them would take; the commands themselves take ~1-5 s.
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("command: %v (want exit 0 and its output)", r.err)
				}
				if !tc.want(string(r.out)) {
					t.Errorf("client got %d bytes (%q...), want the command's whole output", len(r.out), head(r.out))
				}
			case <-time.After(45 * time.Second):
				t.Fatal("the channel stayed open after the command exited")
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 20)] }
