package tui

import (
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// t0 is the fixed start of every scripted run.
var t0 = time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// testCluster is three control-plane/etcd nodes and two workers.
func testCluster() *config.Cluster {
	c := &config.Cluster{Name: "prod-eu1"}
	for i := 1; i <= 3; i++ {
		c.Nodes = append(c.Nodes, config.Node{Name: fmt.Sprintf("cp-%d", i), Address: fmt.Sprintf("10.0.0.1%d", i),
			Roles: []string{config.RoleControlPlane, config.RoleEtcd}})
	}
	for i := 1; i <= 2; i++ {
		c.Nodes = append(c.Nodes, config.Node{Name: fmt.Sprintf("w-%d", i), Address: fmt.Sprintf("10.0.0.2%d", i),
			Roles: []string{config.RoleWorker}})
	}
	return c
}

// newTestModel is a console with a fixed clock and no colour, sized w×h,
// that has heard the restore's runbook announced.
func newTestModel(t *testing.T, o Options, w, h int, now time.Time) Model {
	t.Helper()
	return feed(t, newBareTestModel(t, o, w, h, now), restoreRunbook()) // the engine's first event
}

// newBareTestModel is newTestModel before any event.
func newBareTestModel(t *testing.T, o Options, w, h int, now time.Time) Model {
	t.Helper()
	if o.Cluster == nil {
		o.Cluster = testCluster()
	}
	m := New(o)
	m.now = func() time.Time { return now }
	m.noColor = true
	m.st = newStyles(true, true)
	m.help.Styles = m.st.help
	return update(t, m, tea.WindowSizeMsg{Width: w, Height: h})
}

// restoreRunbook is the restore's runbook as the engine announces it.
func restoreRunbook() steps.RunbookEvent {
	return steps.Announce(steps.RunbookRestore, steps.Runbook(), t0)
}

func update(t *testing.T, m Model, msgs ...tea.Msg) Model {
	t.Helper()
	for _, msg := range msgs {
		nm, _ := m.Update(msg)
		m = nm.(Model)
	}
	return m
}

// feed delivers events as the engine's reader would, in one batch.
func feed(t *testing.T, m Model, evs ...steps.Event) Model {
	t.Helper()
	return update(t, m, eventsMsg{events: evs})
}

func press(keys ...string) []tea.Msg {
	var out []tea.Msg
	for _, k := range keys {
		out = append(out, keyMsg(k))
	}
	return out
}

// keyMsg builds the key press Bubble Tea would deliver for k.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+x":
		return ctrlX()
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// screen is the frame as plain text.
func screen(m Model) string { return ansi.Strip(m.View().Content) }

// Scripted engine events.

func stepEv(sec int, id steps.StepID, st steps.State, why string) steps.StepEvent {
	return steps.StepEvent{At: at(sec), Step: id, State: st, Why: why}
}

func nodeEv(sec int, id steps.StepID, node string, st steps.State, action string) steps.NodeEvent {
	return steps.NodeEvent{At: at(sec), Step: id, Node: node, State: st, Action: action}
}

func checkEv(sec int, id steps.StepID, node, check string, ok bool, detail string) steps.CheckEvent {
	return steps.CheckEvent{At: at(sec), Step: id, Node: node, Check: check, OK: ok, Detail: detail}
}

// factEv is a check that proves comp is in state st on node.
func factEv(sec int, id steps.StepID, node, check string, ok bool, detail string, comp steps.Component, st steps.ComponentState) steps.CheckEvent {
	ev := checkEv(sec, id, node, check, ok, detail)
	ev.Fact = steps.Fact{Component: comp, State: st}
	return ev
}

func logEv(sec int, node string, texts ...string) steps.LogEvent {
	ev := steps.LogEvent{At: at(sec)}
	for _, tx := range texts {
		ev.Lines = append(ev.Lines, steps.LogLine{Node: node, At: at(sec), Text: tx})
	}
	return ev
}

// cmdEv is a command leaving for node at t.
func cmdEv(t time.Time, node, cmd string) steps.LogEvent {
	return steps.LogEvent{At: t, Lines: []steps.LogLine{{Node: node, At: t, Kind: steps.LogCommand, Text: cmd}}}
}

func stopGate() steps.Gate {
	g := steps.Gate{
		Step: steps.StopApiservers, Title: "Stop every kube-apiserver", NeedsName: true, Cluster: "prod-eu1",
		Why:   "No apiserver may write to etcd while it is replaced: every kube-apiserver stops first.",
		Facts: []string{"3 control-plane nodes: cp-1, cp-2, cp-3", "snapshot rev 48213, 1204 keys, sha256 ok"},
	}
	for i := 1; i <= 3; i++ {
		g.Commands = append(g.Commands, steps.NodeCommands{Node: fmt.Sprintf("cp-%d", i), Commands: []string{
			"sudo -n -- mv /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/parked/kube-apiserver.yaml",
		}, What: []string{"park kube-apiserver.yaml so the kubelet stops its static pod"}})
	}
	return g
}

// preflightDone is preflight run and passed on every node.
func preflightDone() []steps.Event {
	evs := []steps.Event{stepEv(0, steps.Preflight, steps.Running, "checking SSH, sudo, snapshot, disk")}
	for i, n := range testCluster().Nodes {
		// SSH is proved by the first command's answer: its round trip is the latency.
		evs = append(evs,
			cmdEv(at(1).Add(-time.Duration(3+i)*time.Millisecond), n.Name, "sudo -n true"),
			nodeEv(1, steps.Preflight, n.Name, steps.Done, "sudo ok"))
		if n.Has(config.RoleControlPlane) {
			evs = append(evs,
				factEv(1, steps.Preflight, n.Name, "kube-apiserver running", true, "", steps.CompAPIServer, steps.CompUp),
				factEv(1, steps.Preflight, n.Name, "etcd healthy", true, "", steps.CompEtcd, steps.CompUp))
		}
		evs = append(evs, factEv(1, steps.Preflight, n.Name, "kubelet active", true, "", steps.CompKubelet, steps.CompUp))
	}
	return append(evs, checkEv(2, steps.Preflight, "", "snapshot hash", true, "rev 48213, 1204 keys"),
		stepEv(12, steps.Preflight, steps.Done, "snapshot rev 48213 ok; 5 nodes reachable"))
}

func windowSize(w, h int) tea.Msg { return tea.WindowSizeMsg{Width: w, Height: h} }

// repointGate is step 3's gate with the diff the engine reads at the gate
// for cp-1 (its manifest's own lines, a token redacted in the context) and
// a move, so the fold shows both kinds.
func repointGate() steps.Gate {
	g := steps.Gate{Step: steps.RepointApiservers, Title: "Point the apiservers at the restored members", Cluster: "prod-eu1",
		Why: "If member URLs changed, apiservers started with the old --etcd-servers would find no etcd, or a different one."}
	g.Commands = []steps.NodeCommands{{Node: "cp-1", Commands: []string{"sudo -n -- sh -c 'write' etcd-dr /etc/kubernetes/parked/kube-apiserver.yaml"},
		What: []string{"set --etcd-servers=https://10.0.1.21:2379 in the parked kube-apiserver.yaml"}}}
	g.Diffs = []steps.FileDiff{{Node: "cp-1", Path: "/etc/kubernetes/parked/kube-apiserver.yaml", Added: 1, Removed: 1,
		Unified: "--- /etc/kubernetes/parked/kube-apiserver.yaml\n+++ /etc/kubernetes/parked/kube-apiserver.yaml\n" +
			"@@ -22,7 +22,7 @@\n     - --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt\n" +
			"     - --etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key\n     - --token=<redacted>\n" +
			"-    - --etcd-servers=https://10.0.0.11:2379\n+    - --etcd-servers=https://10.0.1.21:2379\n" +
			"     - --kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt\n" +
			"     - --kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key\n" +
			"     - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname\n"},
		{Node: "cp-2", Path: "/etc/kubernetes/manifests/kube-apiserver.yaml", From: "/etc/kubernetes/parked/kube-apiserver.yaml",
			Unified: "rename from /etc/kubernetes/parked/kube-apiserver.yaml\nrename to /etc/kubernetes/manifests/kube-apiserver.yaml\n"}}
	return g
}

// preflightCopying is preflight copying the snapshot to cp-2 and cp-3
// (cp-3's copy ended, so it is gone from the list) while cp-1 hashes its
// copy against its deadline.
func preflightCopying() []steps.Event {
	evs := preflightDone()
	evs = evs[:len(evs)-1] // preflight still running
	const size = 1 << 30
	copyEv := func(sec int, node string, done int64, end bool) steps.ProgressEvent {
		return steps.ProgressEvent{At: at(sec), Step: steps.Preflight, Node: node, Work: "copy the snapshot to " + node,
			Kind: steps.ProgressBytes, Done: done, Total: size, Rate: float64(done) / float64(sec-3), Started: at(3), End: end}
	}
	return append(evs,
		copyEv(3, "cp-2", 0, false), copyEv(3, "cp-3", 0, false),
		copyEv(11, "cp-2", 3*size/10, false), copyEv(11, "cp-3", size, true),
		steps.ProgressEvent{At: at(11), Step: steps.Preflight, Node: "cp-1", Work: "check the copy's sha256",
			Kind: steps.ProgressWait, Started: at(11), Deadline: at(11).Add(5*time.Minute + 102*time.Second)})
}
