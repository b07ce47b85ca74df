package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps"
)

// A park script as the engine renders it (steps/cmds.go moveScript): the
// first line says it is a script, the last holds the per-node arguments.
const parkScript = "sudo -n -- sh -c 'set -e; src=\"$1\"; dst=\"$2\"; f=\"$3\"\n" +
	"mkdir -p -- \"$dst\"\n" +
	"MIDDLE-OF-THE-SCRIPT\n" +
	"mv -- \"$src/$f\" \"$dst/$f\"' etcd-dr /etc/kubernetes/manifests /var/lib/etcd-dr/parked kube-scheduler.yaml"

// oneHiddenLine is a three-line script: folded, one line is hidden.
const oneHiddenLine = "sudo -n -- sh -c 'set -e\nMIDDLE-OF-THE-SCRIPT\ntrue' etcd-dr"

func TestGateFoldsScriptsToTheirFirstAndLastLine(t *testing.T) {
	tests := []struct {
		name      string
		keys      []tea.KeyPressMsg
		readOnly  bool
		script    string // parkScript when empty
		want, not []string
	}{
		{name: "folded, a script shows how it starts, its arguments and how many lines are hidden",
			want: []string{"sudo -n -- sh -c 'set -e;", "/var/lib/etcd-dr/parked", "2 more script lines (ctrl+x shows them)"},
			not:  []string{"MIDDLE-OF-THE-SCRIPT"}},
		{name: "each command is preceded by what it is for",
			want: []string{"# park kube-scheduler.yaml so the kubelet stops its static pod"}},
		{name: "ctrl+x shows the whole script", keys: []tea.KeyPressMsg{ctrlX()},
			want: []string{"MIDDLE-OF-THE-SCRIPT", "/var/lib/etcd-dr/parked"}, not: []string{"more script lines"}},
		{name: "ctrl+x again folds it back", keys: []tea.KeyPressMsg{ctrlX(), ctrlX()},
			want: []string{"more script lines"}, not: []string{"MIDDLE-OF-THE-SCRIPT"}},
		{name: "a watcher can read the whole script too", readOnly: true, keys: []tea.KeyPressMsg{ctrlX()},
			want: []string{"MIDDLE-OF-THE-SCRIPT"}},
		{name: "one hidden line is counted in the singular", script: oneHiddenLine,
			want: []string{"⋯ 1 more script line (ctrl+x shows it)"}, not: []string{"1 more script lines"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateDialog(defaultKeys(), "prod-eu1", tc.readOnly)
			g.SetSize(120, 40)
			script := parkScript
			if tc.script != "" {
				script = tc.script
			}
			g.ask(steps.Gate{Step: steps.FlushCaches, Title: "flush caches", NeedsName: true,
				Commands: []steps.NodeCommands{{Node: "cp-1", Commands: []string{script, "systemctl restart kubelet"},
					What: []string{"park kube-scheduler.yaml so the kubelet stops its static pod"}}}}, "")
			for _, k := range tc.keys {
				g.Update(k, "sre@bastion")
			}
			v := g.View(newStyles(true, true))
			for _, w := range tc.want {
				if !strings.Contains(v, w) {
					t.Errorf("gate does not show %q:\n%s", w, v)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(v, n) {
					t.Errorf("gate shows %q:\n%s", n, v)
				}
			}
			if g.input.Value() != "" {
				t.Errorf("ctrl+x was typed into the name input: %q", g.input.Value())
			}
		})
	}
}

func ctrlX() tea.KeyPressMsg { return tea.KeyPressMsg{Code: 'x', Mod: tea.ModCtrl} }

// A command the gate was given no purpose for (here the second) gets no
// empty "#" line: one purpose line for one stated purpose.
func TestGateShowsOnePurposeLinePerStatedPurpose(t *testing.T) {
	g := newGateDialog(defaultKeys(), "prod-eu1", false)
	g.SetSize(120, 40)
	g.ask(steps.Gate{Step: steps.FlushCaches, Title: "flush caches",
		Commands: []steps.NodeCommands{{Node: "cp-1", Commands: []string{"systemctl restart kubelet", "true"},
			What: []string{"restart the kubelet so it drops its cached pods"}}}}, "")
	v := g.View(newStyles(true, true))
	if n := strings.Count(v, "# "); n != 1 {
		t.Errorf("gate shows %d purpose lines, want 1:\n%s", n, v)
	}
	if !strings.Contains(v, "$ true") {
		t.Errorf("the command without a purpose is not shown:\n%s", v)
	}
}
