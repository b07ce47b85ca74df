package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// overheadBlock is the lab block of row 6's drill.
const overheadBlock = 176

// overheadGoal: what etcd-dr adds over the waits no tool can skip, as a
// share of the RTO.
const overheadGoal = 0.10

// probeEvery is how often a started etcd or kube-apiserver is asked
// whether it is ready: the resolution of a measured start.
const probeEvery = 50 * time.Millisecond

// The static pods whose stop and start the procedure waits on, as the
// lab names them (their manifests' metadata.name; the file is NAME.yaml).
var waitedPods = []string{"kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager"}

// span is one unavoidable wait on one node.
type span struct {
	from, to time.Time
	what     string // "kube-apiserver stop on cp-1"
}

// overheadBench runs one headless drill on the default lab (the smallest
// with --quick) and splits each step of its RTO into the waits no tool
// can skip and what etcd-dr adds. The waits are measured, not assumed:
//   - a pod's stop: from the command that moved its manifest away to the
//     pod's exit, both in the lab's timeline (the kubelet's noticing, its
//     SIGTERM and the process's own shutdown, within the 30 s grace);
//   - a pod's start: from the command that put its manifest back to the
//     kubelet starting it (timeline), then, for etcd and kube-apiserver,
//     to the first ready answer of this benchmark's own probe (etcd's
//     /health on its metrics port, the apiserver's /readyz), asked every
//     probeEvery from the pod's start.
func overheadBench(ctx context.Context, c options) ([]Row, error) {
	members, workers := 3, 2 // etcd-dr lab's defaults
	if c.Quick {
		members, workers = 1, 0
	}
	var rows []Row
	_, _, err := runDrillWith(ctx, c, overheadBlock, members, workers, func(ctx context.Context, dir string) func(scorecard) error {
		p := newProber()
		var wg sync.WaitGroup
		wg.Go(func() { p.watch(ctx, dir) })
		return func(sc scorecard) error {
			p.stop()
			wg.Wait()
			r, err := overheadRows(dir, sc, p.readyTimes(), members, workers)
			rows = r
			return err
		}
	})
	return rows, err
}

func overheadRows(dir string, sc scorecard, ready map[int]time.Time, members, workers int) ([]Row, error) {
	tl, err := lab.ReadTimeline(dir)
	if err != nil {
		return nil, err
	}
	recs, err := journal.NewTail(sc.Journal).Records()
	if err != nil {
		return nil, err
	}
	rto, err := time.ParseDuration(sc.RTO)
	if err != nil {
		return nil, fmt.Errorf("drill scorecard: rto %q: %w", sc.RTO, err)
	}
	spans, missing := unavoidable(tl, ready)
	windows := stepWindows(recs)
	spans = clipToStep(spans, windows)
	name := fmt.Sprintf("drill overhead %d members + %d workers: ", members, workers)
	rtoFrom := sc.Ended.Add(-rto)
	waited := covered(spans, rtoFrom, sc.Ended)
	added := rto - waited
	share := ratio(added.Seconds(), rto.Seconds())
	rows := []Row{{Name: name + "what etcd-dr adds to the RTO over the waits no tool can skip", Value: added.Seconds(), Unit: "s",
		Peer: "RTO", PeerValue: rto.Seconds(), Ratio: share, Goal: fmt.Sprintf("≤ %.0f%% of the RTO", 100*overheadGoal),
		Met: share <= overheadGoal && missing == 0, Measured: rto > 0,
		Note: fmt.Sprintf("%.0f%% of the RTO; unavoidable %.2f s (%d waits measured, %d starts never seen ready)", 100*share, waited.Seconds(), len(spans), missing)}}
	var verify time.Duration
	for _, w := range windows {
		in := covered(spans, w.from, w.to)
		d := w.to.Sub(w.from)
		if w.what == string(steps.VerifyReport) {
			verify = d - in
		}
		rows = append(rows, Row{Name: name + "step " + w.what + ": what etcd-dr adds", Value: (d - in).Seconds(), Unit: "s", Measured: true,
			Note: fmt.Sprintf("step %.2f s, unavoidable %.2f s: %s", d.Seconds(), in.Seconds(), spansIn(spans, w.from, w.to))})
	}
	// The verify step waits for Kubernetes' own renewals (leader leases
	// expire after 15 s, node leases renew every 10 s): waits a tool that
	// does not check convergence skips, so they count as etcd-dr's above,
	// and are shown apart here.
	rows = append(rows, Row{Name: name + "what etcd-dr adds outside the verify step's convergence checks (context)",
		Value: (added - verify).Seconds(), Unit: "s", Peer: "RTO", PeerValue: rto.Seconds(),
		Ratio: ratio((added - verify).Seconds(), rto.Seconds()), Measured: rto > 0,
		Note: fmt.Sprintf("verify adds %.2f s in its convergence checks (lease renewals, add-on restart)", verify.Seconds())})
	return rows, nil
}

// unavoidable pairs every pod exit and start in the timeline with the
// command that caused it, and every start with its first ready answer.
// missing counts the etcd and apiserver starts no probe saw ready.
func unavoidable(tl []lab.Event, ready map[int]time.Time) (spans []span, missing int) {
	lastCmd := map[string]time.Time{} // node/pod → latest ssh-exec naming pod's manifest
	for _, ev := range tl {
		switch ev.Kind {
		case lab.EvSSHExec:
			for _, p := range waitedPods {
				if strings.Contains(ev.Command, p+".yaml") {
					lastCmd[ev.Node+"/"+p] = ev.Time
				}
			}
		case lab.EvPodExit, lab.EvPodStart:
			if !slices.Contains(waitedPods, ev.Pod) {
				continue
			}
			from, ok := lastCmd[ev.Node+"/"+ev.Pod]
			if !ok {
				continue // the lab's own start, before any command
			}
			delete(lastCmd, ev.Node+"/"+ev.Pod)
			if ev.Kind == lab.EvPodExit {
				spans = append(spans, span{from, ev.Time, ev.Pod + " stop on " + ev.Node})
				continue
			}
			to := ev.Time
			if ev.Pod == "etcd" || ev.Pod == "kube-apiserver" {
				r, ok := ready[ev.PID]
				if !ok {
					missing++
					continue
				}
				to = r
			}
			spans = append(spans, span{from, to, ev.Pod + " start on " + ev.Node})
		}
	}
	return spans, missing
}

// clipToStep ends each wait with the step it began in: the probe answers
// up to probeEvery late, and a step's own check may see a start first; a
// wait never counts in the next step.
func clipToStep(spans []span, windows []window) []span {
	out := spans[:0]
	for _, s := range spans {
		for _, w := range windows {
			if !s.from.Before(w.from) && s.from.Before(w.to) {
				s.to = earlier(s.to, w.to)
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// covered is how much of [from, to] the spans cover (parallel waits on
// several nodes count once).
func covered(spans []span, from, to time.Time) time.Duration {
	var in [][2]time.Time
	for _, s := range spans {
		a, b := later(s.from, from), earlier(s.to, to)
		if b.After(a) {
			in = append(in, [2]time.Time{a, b})
		}
	}
	slices.SortFunc(in, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	var total time.Duration
	var end time.Time
	for _, s := range in {
		if s[0].After(end) {
			total += s[1].Sub(s[0])
			end = s[1]
		} else if s[1].After(end) {
			total += s[1].Sub(end)
			end = s[1]
		}
	}
	return total
}

func spansIn(spans []span, from, to time.Time) string {
	var out []string
	for _, s := range spans {
		if s.to.After(from) && s.from.Before(to) {
			out = append(out, fmt.Sprintf("%s %.2f s", s.what, s.to.Sub(s.from).Seconds()))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// window is one step's time in the journal: first running to done.
type window struct {
	what     string
	from, to time.Time
}

func stepWindows(recs []journal.Record) []window {
	var out []window
	at := map[string]int{}
	for _, r := range recs {
		if r.Kind != journal.KindStep || r.Step == "" {
			continue
		}
		i, seen := at[r.Step]
		switch r.State {
		case steps.Running.String():
			if !seen {
				at[r.Step] = len(out)
				out = append(out, window{what: r.Step, from: r.At})
			}
		case steps.Done.String():
			if seen {
				out[i].to = r.At
			}
		}
	}
	return slices.DeleteFunc(out, func(w window) bool { return w.to.IsZero() })
}

// prober follows a running lab's timeline and asks every etcd and
// kube-apiserver it sees start whether it is ready, until it is.
type prober struct {
	mu     sync.Mutex
	ready  map[int]time.Time // pod pid → first ready answer
	cancel context.CancelFunc
	ctx    context.Context
	probes sync.WaitGroup
	client *http.Client
}

func newProber() *prober {
	ctx, cancel := context.WithCancel(context.Background())
	return &prober{ready: map[int]time.Time{}, ctx: ctx, cancel: cancel,
		// The apiserver's serving certificate is the lab's; only its
		// answer is read. No keep-alive: each probe is a fresh ask.
		client: &http.Client{Timeout: time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}}
}

func (p *prober) stop() { p.cancel(); p.probes.Wait() }

func (p *prober) readyTimes() map[int]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// watch tails DIR/timeline/*.jsonl until stop.
func (p *prober) watch(ctx context.Context, dir string) {
	tails := map[string]*journal.Tail{}
	addr := map[string]string{}
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		paths, _ := filepath.Glob(filepath.Join(dir, "timeline", "*.jsonl"))
		for _, path := range paths {
			if tails[path] == nil {
				tails[path] = journal.NewTail(path)
			}
			lines, _ := tails[path].Lines()
			for _, l := range lines {
				var ev lab.Event
				if json.Unmarshal([]byte(l), &ev) != nil {
					continue
				}
				switch {
				case ev.Kind == lab.EvNodeUp:
					addr[ev.Node] = ev.Detail
				case ev.Kind == lab.EvPodStart && addr[ev.Node] != "":
					if url := healthURL(ev.Pod, addr[ev.Node]); url != "" {
						pid := ev.PID
						p.probes.Go(func() { p.probe(url, pid) })
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			p.cancel() // the drill failed: no one reads the probes
			return
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// healthURL is what says pod is ready, asked from outside the node as a
// load balancer would: etcd's /health on the metrics port (true once the
// member has a leader), the apiserver's /readyz.
func healthURL(pod, addr string) string {
	switch pod {
	case "etcd":
		return "http://" + addr + ":2381/health"
	case "kube-apiserver":
		return "https://" + addr + ":6443/readyz"
	}
	return ""
}

func (p *prober) probe(url string, pid int) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		if ok(p.client, url) {
			p.mu.Lock()
			p.ready[pid] = time.Now()
			p.mu.Unlock()
			return
		}
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
	}
}

func ok(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	body := strings.TrimSpace(string(b))
	return resp.StatusCode == http.StatusOK && (body == "ok" || strings.Contains(body, `"health":"true"`))
}
