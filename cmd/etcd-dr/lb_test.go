package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/nodes/lab/labtest"
	"github.com/etcd-dr/etcd-dr/steps"
)

// Issue 5's step 3 with an external load balancer in front of etcd, on a
// lab whose apiservers reach etcd only through a real TCP load balancer.
// First the load balancer is left pointing at another etcd cluster: step 3's
// check through it fails and step 4 never starts. Then the run resumes, the
// operator sets the backends the gate lists, and the whole procedure ends
// with lab verify passing.
func TestStep3ThroughARealLoadBalancerProvesItReachesTheRestoredCluster(t *testing.T) {
	const block = 121
	labtest.Block(t, block)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Block: block, Workers: 1, EtcdLB: true})
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("lab down: %v", err)
		}
	})
	lb := l.EtcdLB()
	members := lb.Backends()
	other := otherEtcdBehindLB(t, l, fmt.Sprintf("127.%d.40.2", block))

	t.Run("a load balancer left on another etcd fails step 3 and step 4 never starts", func(t *testing.T) {
		saw, err := driveEngine(t, l.ClusterFile(), func(g steps.Gate) {
			if g.Step == steps.RepointApiservers {
				lb.SetBackends([]string{other}, true)
			}
		})
		if err == nil {
			t.Fatalf("the run succeeded through a load balancer on the wrong cluster:\n%s", tail(saw, 40))
		}
		for _, w := range []string{"load balancer " + lb.URL() + " reaches cluster", "the restored members are cluster", "set its backends to https://"} {
			if !strings.Contains(saw, w) {
				t.Errorf("the operator was not told %q; saw (tail):\n%s", w, tail(saw, 40))
			}
		}
		for _, line := range strings.Split(saw, "\n") {
			if node, ok := nodeLine(line, string(steps.StartApiservers), "running"); ok {
				t.Errorf("start-apiservers started on %s although the load balancer reaches another cluster", node)
			}
		}
		requireSafety(t, l.Dir())
		for _, line := range strings.Split(saw, "\n") {
			if strings.Contains(line, "step repoint-apiservers") && strings.Contains(line, "failed") {
				t.Logf("the operator saw: %s", strings.TrimSpace(line))
				break
			}
		}
	})
	t.Run("the resumed run lists the backends at a manual gate and verifies through the load balancer", func(t *testing.T) {
		var listed []string
		manual := false
		saw, err := driveEngine(t, l.ClusterFile(), func(g steps.Gate) {
			if g.Step != steps.RepointApiservers {
				return
			}
			manual = strings.Contains(strings.Join(g.Facts, "\n"), "MANUAL: --etcd-servers points at a load balancer ("+lb.URL()+")")
			listed = backendsListed(g.Facts)
			var hostPorts []string
			for _, u := range listed {
				if p, err := url.Parse(u); err == nil {
					hostPorts = append(hostPorts, p.Host)
				}
			}
			lb.SetBackends(hostPorts, true) // the operator's manual action
		})
		if err != nil {
			t.Fatalf("the run failed: %v\n%s", err, tail(saw, 60))
		}
		if !manual {
			t.Errorf("the step-3 gate did not say the apiservers' --etcd-servers is the load balancer %s", lb.URL())
		}
		var want []string
		for _, m := range members {
			want = append(want, "https://"+m)
		}
		if strings.Join(listed, ",") != strings.Join(want, ",") {
			t.Errorf("the step-3 gate listed backends %v, want the members' client URLs %v", listed, want)
		}
		if n := strings.Count(saw, "check ok   cp-1     load balancer "+lb.URL()+" reaches the restored cluster"); n != 6 {
			t.Errorf("step 3 proved the load balancer reaches the restored cluster %d times, want 6 (twice per member)", n)
		}
		requireInvariants(t, l.Dir())
	})
}

var backendsRe = regexp.MustCompile(`Set its backends to: (.*)$`)

// backendsListed reads the backend URLs off the step-3 gate's facts.
func backendsListed(facts []string) []string {
	for _, f := range facts {
		if m := backendsRe.FindStringSubmatch(f); m != nil {
			return strings.Split(m[1], ", ")
		}
	}
	return nil
}

// driveEngine runs the engine as `run --headless` does, but calls onGate
// before confirming each proceed gate: the operator's hands between the
// gate and the decision. A failure gate is backed out of, as headless does.
func driveEngine(t *testing.T, cluster string, onGate func(steps.Gate)) (string, error) {
	t.Helper()
	var saw bytes.Buffer
	s, err := openSessionWith(engineFlags{file: cluster}, &saw, func(o *steps.Options) {
		// Over a minute: step 1 waits out kube-apiserver's 30 s grace (it
		// does not exit sooner, as on a kubeadm node) before step 3's check.
		o.Deadline = 70 * time.Second
	})
	if err != nil {
		return saw.String(), err
	}
	defer s.Close()
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ev := range s.eng.Events() {
			fmt.Fprintln(&saw, steps.FormatEvent(ev))
			g, ok := ev.(steps.GateEvent)
			if !ok {
				continue
			}
			if len(g.Gate.Choices) > 0 {
				s.eng.Decide(steps.Decision{Proceed: false, By: s.who})
				continue
			}
			onGate(g.Gate)
			s.eng.Decide(steps.Decision{Proceed: true, Typed: lab.ClusterName, By: s.who})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sc, err := s.eng.Run(ctx)
	<-printed
	if sc != nil {
		saw.WriteString(sc.Text())
	}
	return saw.String(), err
}

// otherEtcdBehindLB starts a one-member etcd that is not the lab's, serving
// TLS with a certificate of the lab's etcd CA valid for the load balancer's
// address (as the old cluster's members were), on addr; it returns its
// client host:port.
func otherEtcdBehindLB(t *testing.T, l *lab.Lab, addr string) string {
	t.Helper()
	dir := t.TempDir()
	must(t, l.WriteEtcdServerCert(filepath.Join(dir, "pki"), addr))
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = "old-1", filepath.Join(dir, "etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client := url.URL{Scheme: "https", Host: addr + ":2379"}
	peer := url.URL{Scheme: "http", Host: addr + ":2380"}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = "old-1=" + peer.String()
	cfg.ClientTLSInfo = transport.TLSInfo{CertFile: filepath.Join(dir, "pki", "server.crt"), KeyFile: filepath.Join(dir, "pki", "server.key"),
		TrustedCAFile: filepath.Join(dir, "pki", "ca.crt"), ClientCertAuth: true}
	e, err := embed.StartEtcd(cfg)
	must(t, err)
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("the other etcd did not become ready in 30s")
	}
	return client.Host
}
