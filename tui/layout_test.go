package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"github.com/etcd-dr/etcd-dr/steps"
)

// TestEveryFrameFitsTheTerminal draws every scripted moment at sizes from
// cramped to wide: no frame may be taller or wider than the terminal, or the
// alt screen scrolls and the operator loses the header.
func TestEveryFrameFitsTheTerminal(t *testing.T) {
	sizes := [][2]int{{40, 12}, {80, 24}, {100, 30}, {119, 40}, {120, 40}, {160, 50}, {250, 70}}
	extra := [][]string{nil, {"tab"}, {"tab", "tab"}, {"?"}, {"tab", "tab", "/", "x"}}
	for _, size := range sizes {
		for _, sc := range goldenScenarios() {
			for _, keys := range extra {
				name := fmt.Sprintf("%s at %dx%d after %v", sc.name, size[0], size[1], keys)
				m := newTestModel(t, Options{Decide: func(steps.Decision) {}}, size[0], size[1], at(sc.now))
				m = feed(t, m, sc.evs...)
				m = update(t, m, press(append(sc.keys, keys...)...)...)
				frame := m.View().Content
				lines := strings.Split(frame, "\n")
				if len(lines) > size[1] {
					t.Errorf("%s: %d lines, taller than the terminal", name, len(lines))
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > size[0] {
						t.Errorf("%s: line %d is %d cells wide: %q", name, i, w, ansi.Strip(l))
						break
					}
				}
			}
		}
	}
}
