package lab

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// nameServer answers every connection with its name and a newline.
func nameServer(t *testing.T, addr, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(name + "\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func askLB(t *testing.T, lb *LB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", lb.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// The lab's load balancer spreads connections over its pool, skips a
// backend that refuses, follows a retarget, and leaves no goroutine behind
// (goleak in TestMain).
func TestTheLoadBalancerSpreadsSkipsDeadBackendsAndRetargets(t *testing.T) {
	a := nameServer(t, "127.122.40.11:0", "a")
	b := nameServer(t, "127.122.40.12:0", "b")
	dead := "127.122.40.13:1" // nothing listens
	lb, err := StartLB("127.122.40.1:0", []string{a, dead, b})
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	seen := map[string]int{}
	for range 6 {
		seen[askLB(t, lb)]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || seen[""] != 0 {
		t.Errorf("6 connections reached %v, want both a and b and none dropped (the dead backend skipped)", seen)
	}
	lb.SetBackends([]string{b}, true)
	for range 3 {
		if got := askLB(t, lb); got != "b" {
			t.Errorf("after retargeting to b a connection reached %q", got)
		}
	}
	lb.SetBackends(nil, true)
	if got := askLB(t, lb); got != "" {
		t.Errorf("with no backends a connection reached %q, want it closed", got)
	}
}
