package tui

import (
	"math/bits"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/etcd-dr/etcd-dr/steps/termsafe"
)

// logLine is one sanitized line of node output.
type logLine struct {
	node  string
	text  string
	at    time.Time
	isErr bool
}

// errorWords mark a line the operator may want to jump to. Stderr alone is
// not a signal: etcdutl and kube components log everything there.
var errorWords = []string{"error", "fail", "fatal", "panic", "denied", "refused", "timed out", "timeout", "no space"}

func newLogLine(node, raw string, at time.Time) logLine {
	text := sanitize(raw)
	return logLine{node: node, text: text, at: at, isErr: hasErrorWord(text)}
}

// hasErrorWord is strings.ToLower(s) holding one of errorWords, without the
// lowered copy for the usual all-ASCII line (a flood's every line passes
// here). The words are ASCII; a line with other bytes takes the lowered
// copy, since Go lowers some non-ASCII runes to ASCII letters ('İ' to 'i').
func hasErrorWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return containsAny(strings.ToLower(s), errorWords...)
		}
		for m := errorStarts[c]; m != 0; m &= m - 1 {
			if hasPrefixFoldASCII(s[i:], errorWords[bits.TrailingZeros16(m)]) {
				return true
			}
		}
	}
	return false
}

// errorStarts[c] has bit w set when errorWords[w] starts with c in either
// case: most bytes of a line are passed over with one lookup.
var errorStarts = func() (t [128]uint16) {
	for w, word := range errorWords {
		t[word[0]] |= 1 << w
		t[word[0]-'a'+'A'] |= 1 << w
	}
	return t
}()

// hasPrefixFoldASCII reports whether s starts with the lower-case ASCII
// word w in any ASCII case.
func hasPrefixFoldASCII(s, w string) bool {
	if len(s) < len(w) {
		return false
	}
	for j := 1; j < len(w); j++ {
		if lowerASCII(s[j]) != w[j] {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// sanitize keeps remote output from moving the cursor or recolouring the
// screen: escape sequences are dropped, tabs expanded, other C0 controls
// removed, and what a terminal may still act on (C1 controls such as
// U+009B, bidi overrides, stray bytes) shown as visible escapes. The
// engine already sends escapes visibly; this guards any other source.
func sanitize(s string) string {
	if !strings.Contains(s, "\t") && termsafe.Line(s) == s {
		return s // the common case: nothing to strip, no allocation
	}
	s = ansi.Strip(s)
	if strings.ContainsFunc(s, isControl) {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == '\t':
				b.WriteString("    ")
			case isControl(r):
			default:
				b.WriteRune(r)
			}
		}
		s = b.String()
	}
	return termsafe.Line(s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ring is a bounded log: the newest lines win, memory never grows past cap.
// Every line gets a sequence number so a paused view and a filter index can
// point at lines that stay put while new ones arrive.
type ring struct {
	buf  []logLine
	head int    // index of the oldest line
	n    int    // lines held
	next uint64 // sequence number of the next line pushed
}

func newRing(capacity int) *ring { return &ring{buf: make([]logLine, capacity)} }

func (r *ring) push(l logLine) {
	if r.n < len(r.buf) {
		r.buf[(r.head+r.n)%len(r.buf)] = l
		r.n++
	} else {
		r.buf[r.head] = l
		r.head = (r.head + 1) % len(r.buf)
	}
	r.next++
}

// first is the sequence number of the oldest line held.
func (r *ring) first() uint64 { return r.next - uint64(r.n) }

// at returns the line with sequence number seq, if still held.
func (r *ring) at(seq uint64) (logLine, bool) {
	if seq < r.first() || seq >= r.next {
		return logLine{}, false
	}
	return r.buf[(r.head+int(seq-r.first()))%len(r.buf)], true
}
