// Package termsafe makes text from nodes and snapshots safe to print on a
// terminal. A key name or a node's output line can hold escape sequences:
// a CSI that moves the cursor and overwrites a gate's warning, an OSC 52
// that writes the operator's clipboard, a \r that hides what came before.
// Such bytes are shown as visible escapes (\x1b, \r, \u009b), never sent raw,
// so the operator sees that something odd was there.
package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Line returns s with every control character, C1 control and invalid
// UTF-8 byte written as a visible escape; tabs are kept. The result holds
// no newline: one line in, one line out.
func Line(s string) string { return escape(s, false) }

// Text is Line for text meant to span lines (an error with a node's stderr):
// newlines are kept, everything else as Line.
func Text(s string) string { return escape(s, true) }

func escape(s string, keepNewline bool) string {
	if clean(s, keepNewline) {
		return s // the common case: no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t' || (r == '\n' && keepNewline):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// clean reports s has nothing to escape, scanning bytes: ASCII text, the
// bulk of any log, never decodes a rune.
func clean(s string, keepNewline bool) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && !(c == '\n' && keepNewline)) || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// unsafeRune is a C1 control (U+0080–U+009F: some terminals read U+009B as
// CSI) or a bidirectional override that makes a line read differently from
// what it holds (U+202A–U+202E, U+2066–U+2069).
func unsafeRune(r rune) bool {
	return (r >= 0x80 && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// JSON rewrites encoded JSON so it holds no rune a terminal acts on: Go's
// encoder escapes C0 controls but passes C1 controls and bidi overrides
// raw. Every non-ASCII rune of JSON is inside a string, so a \u escape
// there decodes to the same value.
func JSON(s string) string {
	if clean(s, true) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unsafeRune(r) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
