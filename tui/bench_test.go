package tui

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"golang.org/x/sys/unix"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// floodCluster is n control-plane/etcd/worker nodes.
func floodCluster(n int) *config.Cluster {
	c := &config.Cluster{Name: "flood"}
	for i := range n {
		c.Nodes = append(c.Nodes, config.Node{Name: fmt.Sprintf("node-%02d", i),
			Roles: []string{config.RoleControlPlane, config.RoleEtcd}})
	}
	return c
}

// floodFrame is one frame's worth (33 ms) of 50 nodes writing 1000 lines/s
// each, as the engine batches it: one LogEvent per node.
func floodFrame(nodeCount, frame int) eventsMsg {
	const perNodePerFrame = 33
	var msg eventsMsg
	base := t0.Add(time.Duration(frame) * coalesceWindow)
	for n := range nodeCount {
		ev := steps.LogEvent{At: base}
		name := fmt.Sprintf("node-%02d", n)
		for i := range perNodePerFrame {
			text := fmt.Sprintf(`{"level":"info","ts":"%s","msg":"applied entries","index":%d}`, base.Format(time.RFC3339Nano), frame*perNodePerFrame+i)
			if i == 7 {
				text = "error: etcdserver: request timed out, retrying"
			}
			ev.Lines = append(ev.Lines, steps.LogLine{Node: name, At: base, Text: text})
		}
		msg.events = append(msg.events, ev)
	}
	return msg
}

func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}

// BenchmarkLogFlood feeds 50 nodes × 1000 lines/s through the real model,
// one coalesced batch per frame, and measures what the operator feels:
// View per frame, Update per batch, and a key press landing behind a batch.
func BenchmarkLogFlood(b *testing.B) {
	const nodeCount = 50
	m := New(Options{Cluster: floodCluster(nodeCount), Decide: func(steps.Decision) {}})
	m.now = func() time.Time { return t0 }
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
	m = nm.(Model)
	m.setFocus(focusLogs)
	m.Update(eventsMsg{events: []steps.Event{steps.StepEvent{At: t0, Step: steps.RestoreEtcd, State: steps.Running}}})
	frames := make([]eventsMsg, 64)
	for i := range frames {
		frames[i] = floodFrame(nodeCount, i)
	}
	keys := []tea.KeyPressMsg{keyMsg("up"), keyMsg("e"), keyMsg("down"), keyMsg("f"), keyMsg("f")}
	measureFrames(b, m, func(i int) tea.Msg { return frames[i%len(frames)] }, keys)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(m) // the rings must count in the heap measured
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(nodeCount*33), "lines/frame")
}

// workerCluster is 3 control-plane/etcd nodes and n-3 workers: step 5's
// shape at production size.
func workerCluster(n int) *config.Cluster {
	c := &config.Cluster{Name: "big"}
	for i := range n {
		roles := []string{config.RoleWorker}
		if i < 3 {
			roles = []string{config.RoleControlPlane, config.RoleEtcd}
		}
		c.Nodes = append(c.Nodes, config.Node{Name: fmt.Sprintf("worker-%04d", i), Roles: roles})
	}
	return c
}

// flushGate is step 5's gate on c: a restart and two reads per node.
func flushGate(c *config.Cluster) steps.GateEvent {
	g := steps.Gate{Step: steps.FlushCaches, Title: "Flush caches", Why: "restart the kubelets so they drop their cached pods"}
	for _, n := range c.Nodes {
		g.Commands = append(g.Commands, steps.NodeCommands{Node: n.Name,
			Commands: []string{"systemctl show kubelet --property=InvocationID --value", "sudo systemctl restart kubelet"},
			What:     []string{"read the kubelet's invocation", "restart the kubelet so it drops the pods it cached before the restore"}})
	}
	return steps.GateEvent{At: t0, Gate: g}
}

// threadCPU is the calling OS thread's CPU time: a frame's own cost, which
// a loaded machine does not inflate as it does wall time.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureFrames runs Update on each batch then View, then a key and View,
// as the single-threaded event loop does, and reports the p99s: wall time,
// and the CPU of the batch's and the key's frames together.
func measureFrames(b *testing.B, m Model, batch func(i int) tea.Msg, keys []tea.KeyPressMsg) {
	var views, updates, keyLat, cpu []time.Duration
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c0 := threadCPU()
		start := time.Now()
		nm, _ := m.Update(batch(i))
		m = nm.(Model)
		mid := time.Now()
		_ = m.View()
		end := time.Now()
		nm, _ = m.Update(keys[i%len(keys)])
		m = nm.(Model)
		_ = m.View()
		keyEnd := time.Now()
		cpu = append(cpu, threadCPU()-c0)
		updates = append(updates, mid.Sub(start))
		views = append(views, end.Sub(mid))
		keyLat = append(keyLat, keyEnd.Sub(start))
		i++
	}
	b.StopTimer()
	b.ReportMetric(float64(p99(cpu).Microseconds())/1000, "cpu-2frames-p99-ms")
	b.ReportMetric(float64(p99(views).Microseconds())/1000, "view-p99-ms")
	b.ReportMetric(float64(p99(updates).Microseconds())/1000, "update-p99-ms")
	b.ReportMetric(float64(p99(keyLat).Microseconds())/1000, "key-to-frame-p99-ms")
}

// BenchmarkFlush1000Nodes is step 5 on 1000 nodes as the console sees it:
// with its gate open (1000 nodes' commands in the dialog, the operator
// scrolling), and running (node events and checks arriving in batches with
// every node already in the step's expansion and the inventory).
func BenchmarkFlush1000Nodes(b *testing.B) {
	const n = 1000
	c := workerCluster(n)
	start := func() Model {
		m := New(Options{Cluster: c, Decide: func(steps.Decision) {}})
		m.now = func() time.Time { return t0 }
		nm, _ := m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
		return nm.(Model)
	}
	tick := func(int) tea.Msg { return tickMsg(t0) }
	b.Run("gate", func(b *testing.B) {
		m := start()
		nm, _ := m.Update(eventsMsg{events: []steps.Event{
			steps.StepEvent{At: t0, Step: steps.FlushCaches, State: steps.WaitingGate}, flushGate(c)}})
		measureFrames(b, nm.(Model), tick, []tea.KeyPressMsg{keyMsg("down"), keyMsg("down"), keyMsg("up")})
	})
	b.Run("running", func(b *testing.B) {
		m := start()
		evs := []steps.Event{steps.StepEvent{At: t0, Step: steps.FlushCaches, State: steps.Running}}
		for _, nd := range c.Nodes {
			evs = append(evs, steps.NodeEvent{At: t0, Step: steps.FlushCaches, Node: nd.Name, State: steps.Done, Action: "restart the kubelet"},
				steps.CheckEvent{At: t0, Step: steps.FlushCaches, Node: nd.Name, Check: "kubelet restarted after the restore", OK: true, Detail: "new invocation"})
		}
		nm, _ := m.Update(eventsMsg{events: evs})
		m = nm.(Model)
		m.setFocus(focusNodes)
		batch := func(i int) tea.Msg {
			var msg eventsMsg
			for j := range 25 {
				name := c.Nodes[(i*25+j)%n].Name
				msg.events = append(msg.events,
					steps.NodeEvent{At: t0, Step: steps.FlushCaches, Node: name, State: steps.Running, Action: "restart the kubelet"},
					steps.CheckEvent{At: t0, Step: steps.FlushCaches, Node: name, Check: "kubelet restarted after the restore", OK: true, Detail: "new invocation"})
			}
			return msg
		}
		measureFrames(b, m, batch, []tea.KeyPressMsg{keyMsg("down"), keyMsg("down"), keyMsg("up")})
	})
	b.Run("scorecard", func(b *testing.B) {
		m := start()
		evs := []steps.Event{steps.RunbookEvent{Name: steps.RunbookRestore, Steps: []steps.RunbookStep{{ID: steps.FlushCaches, Title: "Flush caches", Number: 5}}},
			steps.StepEvent{At: t0, Step: steps.FlushCaches, State: steps.Running}}
		for _, nd := range c.Nodes {
			evs = append(evs, steps.NodeEvent{At: t0, Step: steps.FlushCaches, Node: nd.Name, State: steps.Done, Action: "restart the kubelet"},
				steps.CheckEvent{At: t0, Step: steps.FlushCaches, Node: nd.Name, Check: "kubelet restarted after the restore", OK: true, Detail: "new invocation"})
		}
		evs = append(evs, steps.StepEvent{At: t0, Step: steps.FlushCaches, State: steps.Done})
		nm, _ := m.Update(eventsMsg{events: evs, closed: true})
		m = nm.(Model)
		if !m.scorecard {
			b.Fatal("the scorecard is not shown after the run ended")
		}
		measureFrames(b, m, tick, []tea.KeyPressMsg{keyMsg("down"), keyMsg("down"), keyMsg("up")})
	})
}
