package tui

import (
	"fmt"
	"strings"
	"testing"

	"charm.land/bubbles/v2/viewport"

	"github.com/etcd-dr/etcd-dr/steps"
)

func lines(node string, from, n int) []steps.LogLine {
	out := make([]steps.LogLine, 0, n)
	for i := from; i < from+n; i++ {
		out = append(out, steps.LogLine{Node: node, At: at(i), Text: fmt.Sprintf("line %d", i)})
	}
	return out
}

func newTestLogs(t *testing.T, rows int) logsPane {
	t.Helper()
	p := newLogsPane(defaultKeys(), []string{"cp-1", "cp-2"})
	p.SetSize(80, rows+1)
	p.Focus(true)
	return p
}

// shown is the text of the rows on screen.
func shown(p *logsPane) []string {
	var out []string
	for i := p.start(); i < min(p.length(), p.start()+p.rows()); i++ {
		l, _ := p.source().at(p.seqAt(i))
		out = append(out, l.text)
	}
	return out
}

func TestRingKeepsOnlyTheNewestLines(t *testing.T) {
	r := newRing(3)
	for i := range 10 {
		r.push(logLine{text: fmt.Sprint(i)})
	}
	if r.n != 3 || r.first() != 7 || r.next != 10 {
		t.Fatalf("ring n=%d first=%d next=%d, want 3, 7, 10", r.n, r.first(), r.next)
	}
	if _, ok := r.at(6); ok {
		t.Fatal("an evicted line is still readable")
	}
	if l, _ := r.at(9); l.text != "9" {
		t.Fatalf("newest line = %q, want 9", l.text)
	}
}

func TestLogMemoryStaysBoundedUnderAFlood(t *testing.T) {
	p := newTestLogs(t, 10)
	for batch := range 30 {
		p.appendLines(lines("cp-1", batch*1000, 1000))
	}
	if got := p.perNode["cp-1"].n; got != nodeRingLines {
		t.Fatalf("node ring holds %d lines, want the cap %d", got, nodeRingLines)
	}
	if got := p.all.n; got != allRingLines {
		t.Fatalf("all-nodes ring holds %d lines, want the cap %d", got, allRingLines)
	}
	p.filter = "line"
	p.rebuildIndex()
	p.appendLines(lines("cp-1", 30000, 5000))
	if len(p.index) > allRingLines {
		t.Fatalf("filter index holds %d entries, more than the ring", len(p.index))
	}
}

func TestLogsPane(t *testing.T) {
	tests := []struct {
		name string
		keys []string
		want []string // rows on screen after the keys
		mode string   // substring of the title
	}{
		{name: "it follows the newest lines by default", want: []string{"line 17", "line 18", "line 19"}, mode: "following"},
		{name: "scrolling up pauses the follow", keys: []string{"up"}, want: []string{"line 16", "line 17", "line 18"}, mode: "paused, 1 newer"},
		{name: "scrolling back to the bottom follows again", keys: []string{"up", "up", "down", "down"}, want: []string{"line 17", "line 18", "line 19"}, mode: "following"},
		{name: "f pauses and f again follows", keys: []string{"f", "f"}, want: []string{"line 17", "line 18", "line 19"}, mode: "following"},
		{name: "g goes to the oldest line", keys: []string{"g"}, want: []string{"line 0", "line 1", "line 2"}, mode: "paused"},
		{name: "the filter keeps matching lines only", keys: []string{"/", "1", "5", "enter"}, want: []string{"line 15"}, mode: "filter 15"},
		{name: "esc in the filter clears it", keys: []string{"/", "1", "5", "esc"}, want: []string{"line 17", "line 18", "line 19"}, mode: "following"},
		{name: "e jumps to the next error line", keys: []string{"g", "e"}, want: []string{"error: disk full", "line 6", "line 7"}, mode: "paused"},
		{name: "e again wraps to the first error line", keys: []string{"g", "e", "e", "e"}, want: []string{"error: disk full", "line 6", "line 7"}, mode: "paused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestLogs(t, 3)
			ls := lines("cp-1", 0, 20)
			ls[5].Text = "error: disk full"
			ls[12].Text = "Permission DENIED"
			p.appendLines(ls)
			for _, k := range tc.keys {
				p.Update(keyMsg(k))
			}
			if got := shown(&p); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("rows = %q, want %q", got, tc.want)
			}
			if !strings.Contains(p.title(), tc.mode) {
				t.Errorf("title %q does not say %q", p.title(), tc.mode)
			}
		})
	}
}

func TestPausedViewStaysPutWhileLinesArrive(t *testing.T) {
	p := newTestLogs(t, 3)
	p.appendLines(lines("cp-1", 0, 20))
	p.Update(keyMsg("up"))
	before := shown(&p)
	p.appendLines(lines("cp-1", 20, 5))
	if got := shown(&p); strings.Join(got, "|") != strings.Join(before, "|") {
		t.Fatalf("paused rows moved from %q to %q", before, got)
	}
	if !strings.Contains(p.title(), "6 newer") {
		t.Fatalf("title %q does not count the newer lines", p.title())
	}
}

func TestSelectingANodeShowsOnlyItsLines(t *testing.T) {
	p := newTestLogs(t, 3)
	p.appendLines(lines("cp-1", 0, 3))
	p.appendLines(lines("cp-2", 100, 3))
	p.selectNode("cp-1")
	if got := strings.Join(shown(&p), "|"); got != "line 0|line 1|line 2" {
		t.Fatalf("cp-1 rows = %q", got)
	}
	p.Update(keyMsg("a"))
	if got := strings.Join(shown(&p), "|"); got != "line 100|line 101|line 102" {
		t.Fatalf("all-nodes rows = %q, want the newest of both nodes", got)
	}
}

func TestRemoteOutputCannotDrawOnTheScreen(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"colour codes are dropped", "\x1b[31mred\x1b[0m", "red"},
		{"cursor moves are dropped", "a\x1b[2Jb", "ab"},
		{"tabs become spaces", "a\tb", "a    b"},
		{"carriage returns are removed", "progress 50%\rprogress 100%", "progress 50%progress 100%"},
		{"plain text is kept", "etcd restored", "etcd restored"},
		{"a clipboard write (OSC 52) is dropped", "a\x1b]52;c;cm0gLXJmIC8K\x07b", "ab"},
		{"a bell is dropped", "ding\x07", "ding"},
		{"a C1 CSI is shown, not obeyed", "c1\u009b2Jx", `c1\u009b2Jx`},
		{"a bidi override is shown, not obeyed", "abc\u202edcba", `abc\u202edcba`},
		{"a raw C1 byte is dropped with the sequence it starts", "a\x9b2Jb", "ab"},
		{"a stray byte is dropped", "a\xffb", "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sanitize(tc.in); got != tc.want {
				t.Fatalf("sanitize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestLogStatsCountEveryLineReceivedAndKeepTheRingsBounded(t *testing.T) {
	tests := []struct {
		name               string
		lines, nodes       int
		wantKept, wantDrop int
		wantPerNode        int
	}{
		{name: "a few lines are all kept", lines: 10, nodes: 2, wantKept: 10, wantPerNode: 10},
		{name: "a flood keeps the newest ring's worth and counts the rest as dropped",
			lines: allRingLines + 500, nodes: 10, wantKept: allRingLines, wantDrop: 500, wantPerNode: allRingLines + 500},
		{name: "one node's flood is bounded by its own ring too",
			lines: nodeRingLines + 7, nodes: 1, wantKept: nodeRingLines + 7, wantPerNode: nodeRingLines},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{})
			var batch []steps.LogLine
			for i := range tc.lines {
				batch = append(batch, steps.LogLine{Node: fmt.Sprintf("n-%d", i%tc.nodes), Text: "x"})
			}
			m.logs.appendLines(batch)
			s := m.LogStats()
			if s.Received != uint64(tc.lines) || s.KeptAll != tc.wantKept || s.Dropped != uint64(tc.wantDrop) ||
				s.KeptPerNode != tc.wantPerNode {
				t.Errorf("stats %+v; want received %d, kept %d, dropped %d, per node %d",
					s, tc.lines, tc.wantKept, tc.wantDrop, tc.wantPerNode)
			}
		})
	}
}

// viewportBlock is how the pane drew its rows before block: a viewport of
// the rows' size given the lines.
func viewportBlock(lines []string, w, h int) string {
	vp := viewport.New()
	vp.SetWidth(w)
	vp.SetHeight(h)
	vp.SetContentLines(lines)
	return vp.View()
}

// The logs pane's rows are drawn byte for byte as the viewport drew them,
// escapes included (the goldens compare plain text only).
func TestLogsBlockDrawsAsTheViewportDid(t *testing.T) {
	st := newStyles(true, false)
	for _, tc := range []struct {
		name  string
		w, h  int
		lines []string
	}{
		{"plain lines, fewer than the rows", 80, 5, []string{"12:00:00 cp-1 line one", "12:00:01 cp-2 line two"}},
		{"no output yet, styled", 80, 4, []string{st.dim.Render("no output yet")}},
		{"no output yet in a pane narrower than it", 8, 2, []string{st.dim.Render("no output yet")}},
		{"an error line and a marked one", 60, 3, []string{st.bad.Render("error: etcd did not stop"), st.selected.Render(st.bad.Render("error: again")), "ok"}},
		{"lines exactly the width", 10, 2, []string{"0123456789", "abcdefghi…"}},
		{"wide characters", 12, 3, []string{"12:00 節点 ok", "ｅｔｃｄ"}},
		{"trailing spaces", 20, 2, []string{"a line   ", "  "}},
		{"one row", 30, 1, []string{"only"}},
		{"no rows", 30, 0, []string{"none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := block(tc.lines, tc.w, tc.h), viewportBlock(tc.lines, tc.w, tc.h); got != want {
				t.Fatalf("block:\n%q\nviewport:\n%q", got, want)
			}
		})
	}
	// And a pane drawn from its rings, following and paused, all nodes and one.
	p := newTestLogs(t, 6)
	p.appendLines(lines("cp-1", 0, 20))
	p.appendLines([]steps.LogLine{{Node: "cp-2", At: at(30), Text: "error: etcdserver: request timed out"}})
	for _, keys := range [][]string{nil, {"up", "up"}, {"e"}, {"a"}} {
		for _, k := range keys {
			p.Update(keyMsg(k))
		}
		rows := p.rows()
		var want []string
		for i := p.start(); i < min(p.length(), p.start()+rows); i++ {
			l, _ := p.source().at(p.seqAt(i))
			want = append(want, p.renderLine(st, l, p.mark == p.seqAt(i)+1))
		}
		got := strings.SplitN(p.View(st), "\n", 2)[1]
		if exp := viewportBlock(want, p.width, rows); got != exp {
			t.Fatalf("after %v:\n%q\nviewport:\n%q", keys, got, exp)
		}
	}
}

// The error mark reads the same lines as strings.ToLower then Contains
// did, without the lowered copy for ASCII lines.
func TestErrorWordsAreFoundInAnyCaseAsByLowering(t *testing.T) {
	cases := []struct {
		line string
		want bool
	}{
		{`{"level":"info","msg":"applied entries","index":7}`, false},
		{"error: etcdserver: request timed out, retrying", true},
		{"ERROR opening db", true},
		{"Connection Refused", true},
		{"write: No Space left on device", true},
		{"ErRoR", true},
		{"err or", false},
		{"errors", true},
		{"err", false},
		{"time d out", false},
		{"context deadline exceeded (Client.Timeout exceeded)", true},
		{"permission DENIED", true},
		{"panic:", true},
		{"no\x00space", false},
		{"", false},
		{"f", false},
		{"FAİL", true}, // Go lowers 'İ' to 'i': the lowered copy still decides
		{"ΣΦΑΛΜΑ fatal", true},
		{"ΣΦΑΛΜΑ", false},
		{"\xffpanic", true},
	}
	if len(errorWords) > 16 {
		t.Fatalf("%d error words: errorStarts holds 16", len(errorWords))
	}
	for _, c := range cases {
		old := containsAny(strings.ToLower(c.line), errorWords...)
		if got := hasErrorWord(c.line); got != c.want || got != old {
			t.Errorf("hasErrorWord(%q) = %v, want %v (lowering says %v)", c.line, got, c.want, old)
		}
	}
	if n := testing.AllocsPerRun(100, func() { hasErrorWord(`{"level":"info","msg":"applied entries","index":7}`) }); n != 0 {
		t.Errorf("an ASCII line costs %v allocations, want 0", n)
	}
}

func FuzzErrorWordsMatchLowering(f *testing.F) {
	for _, s := range []string{"ERROR", "Timed Out", "FAİL", "no space", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hasErrorWord(s), containsAny(strings.ToLower(s), errorWords...); got != want {
			t.Errorf("hasErrorWord(%q) = %v, lowering says %v", s, got, want)
		}
	})
}

func BenchmarkErrorWords(b *testing.B) {
	line := `{"level":"info","ts":"2026-12-08T01:32:37.123456789Z","msg":"applied entries","index":12345}`
	b.Run("fold", func(b *testing.B) {
		for b.Loop() {
			hasErrorWord(line)
		}
	})
	b.Run("lowered", func(b *testing.B) {
		for b.Loop() {
			containsAny(strings.ToLower(line), errorWords...)
		}
	})
}
