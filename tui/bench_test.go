package tui

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

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
	var views, updates, keyLat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		nm, _ = m.Update(frames[i%len(frames)])
		m = nm.(Model)
		mid := time.Now()
		_ = m.View()
		end := time.Now()
		nm, _ = m.Update(keys[i%len(keys)])
		m = nm.(Model)
		_ = m.View()
		keyEnd := time.Now()
		updates = append(updates, mid.Sub(start))
		views = append(views, end.Sub(mid))
		// The key waited behind the batch then drew: the worst case of the
		// single-threaded event loop.
		keyLat = append(keyLat, keyEnd.Sub(start))
		i++
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(m) // the rings must count in the heap measured
	b.ReportMetric(float64(p99(views).Microseconds())/1000, "view-p99-ms")
	b.ReportMetric(float64(p99(updates).Microseconds())/1000, "update-p99-ms")
	b.ReportMetric(float64(p99(keyLat).Microseconds())/1000, "key-to-frame-p99-ms")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(nodeCount*33), "lines/frame")
}
