package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// A gate dialog resized, scrolled in between, draws exactly as one laid out
// at the final size from the start and scrolled the same way: the body is
// wrapped again only when its width changes, so a stale wrap or a scroll
// position past the new bottom would show here.
func TestAResizedGateDrawsAsOneLaidOutAtItsSize(t *testing.T) {
	c := workerCluster(40)
	gate := flushGate(c).Gate
	gate.NeedsName = true
	st := newStyles(true, false)
	for _, tc := range []struct {
		name   string
		sizes  [][2]int // window sizes in turn; the last is compared
		scroll int      // lines scrolled down after the first size
	}{
		{"taller", [][2]int{{160, 20}, {160, 45}}, 0},
		{"taller after scrolling to the end", [][2]int{{160, 20}, {160, 45}}, 400},
		{"shorter after scrolling to the end", [][2]int{{160, 45}, {160, 20}}, 400},
		{"shorter after scrolling a little", [][2]int{{160, 45}, {160, 20}}, 3},
		{"narrower", [][2]int{{160, 40}, {60, 40}}, 5},
		{"wider", [][2]int{{60, 40}, {160, 40}}, 5},
		{"narrower and shorter, then back", [][2]int{{160, 40}, {50, 15}, {160, 40}}, 2},
		{"the same size again", [][2]int{{100, 30}, {100, 30}}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateDialog(defaultKeys(), c.Name, false)
			g.SetSize(tc.sizes[0][0], tc.sizes[0][1])
			g.ask(gate, "")
			for range tc.scroll {
				g.Update(keyMsg("down"), "sre@bastion")
			}
			for _, s := range tc.sizes[1:] {
				g.SetSize(s[0], s[1])
			}
			last := tc.sizes[len(tc.sizes)-1]
			fresh := newGateDialog(defaultKeys(), c.Name, false)
			fresh.SetSize(last[0], last[1])
			fresh.ask(gate, "")
			// The same scroll, bounded as the viewport bounds it.
			fresh.body.SetYOffset(g.body.YOffset())
			if g.body.YOffset() > fresh.body.TotalLineCount()-fresh.body.VisibleLineCount() {
				t.Fatalf("scrolled to line %d, past the bottom (%d lines, %d shown)", g.body.YOffset(), fresh.body.TotalLineCount(), fresh.body.VisibleLineCount())
			}
			if got, want := g.View(st), fresh.View(st); got != want {
				t.Fatalf("resized dialog:\n%s\nlaid out at %v from the start:\n%s", got, last, want)
			}
		})
	}
}

// The steps pane draws the expansion's first lines and counts the rest
// without drawing them; what it shows and the height it asks for are what
// the whole expansion, drawn and cut, gives.
func TestTheStepsPaneDrawsOnlyTheExpansionThatFits(t *testing.T) {
	st := newStyles(true, false)
	for _, n := range []int{0, 1, 5, 30, 300} {
		for _, h := range []int{1, 3, 9, 10, 12, 40, 700} {
			t.Run(fmt.Sprintf("%d nodes, height %d", n, h), func(t *testing.T) {
				c := &config.Cluster{Name: "c"}
				rs := newRunState(c)
				rs.apply(steps.StepEvent{At: t0, Step: steps.FlushCaches, State: steps.Running})
				for i := range n {
					name := fmt.Sprintf("w-%03d", i)
					rs.apply(steps.NodeEvent{At: t0, Step: steps.FlushCaches, Node: name, State: steps.Running, Action: "restart the kubelet"})
					if i%2 == 0 {
						rs.apply(steps.CheckEvent{At: t0, Step: steps.FlushCaches, Node: name, Check: "kubelet restarted", OK: i%4 == 0})
					}
				}
				rs.apply(steps.ProgressEvent{At: t0, Step: steps.FlushCaches, Node: "w-000", Work: "wait for the kubelet", Kind: steps.ProgressWait, Started: t0})
				p := newStepsPane(defaultKeys())
				p.SetSize(100, h)
				now := t0.Add(42 * time.Second)

				all := p.expansion(st, rs, now, 1<<30)
				if got, want := p.wantHeight(rs), 1+len(rs.steps)+len(all); got != want {
					t.Fatalf("wantHeight %d, the whole expansion gives %d", got, want)
				}
				want := []string{paneTitle(st, "Steps · at "+rs.steps[0].shortTitle(), false, 100)}
				for i, s := range rs.steps {
					want = append(want, p.row(st, i, s, now))
					if room := h - 1 - len(rs.steps); i == p.cursor && room > 0 {
						exp := all
						if len(exp) > room {
							exp = append(exp[:room-1:room-1], st.dim.Render(fmt.Sprintf("      … %d more", len(all)-room+1)))
						}
						want = append(want, exp...)
					}
				}
				if len(want) > h {
					want = want[:h]
				}
				if got := p.View(st, rs, now); got != strings.Join(want, "\n") {
					t.Fatalf("drawn:\n%s\nthe whole expansion cut:\n%s", got, strings.Join(want, "\n"))
				}
			})
		}
	}
}
