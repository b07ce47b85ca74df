package termsafe

import (
	"encoding/json"
	"testing"
)

func TestNothingATerminalActsOnIsPrintedRaw(t *testing.T) {
	for _, tc := range []struct{ name, in, line, text string }{
		{"plain text is kept as it is", "etcd restored: 3 members", "etcd restored: 3 members", "etcd restored: 3 members"},
		{"a screen clear is shown", "\x1b[2Jx", `\x1b[2Jx`, `\x1b[2Jx`},
		{"a clipboard write is shown", "\x1b]52;c;cm0=\x07", `\x1b]52;c;cm0=\x07`, `\x1b]52;c;cm0=\x07`},
		{"a carriage return is shown", "ok\rFAIL", `ok\rFAIL`, `ok\rFAIL`},
		{"a C1 CSI is shown", "a\u009b2J", `a\u009b2J`, `a\u009b2J`},
		{"a bidi override is shown", "x\u202ey", `x\u202ey`, `x\u202ey`},
		{"a stray byte is shown", "a\x9bb", `a\x9bb`, `a\x9bb`},
		{"a newline is one line's escape, kept in text", "a\nb", `a\nb`, "a\nb"},
		{"a tab is kept", "a\tb", "a\tb", "a\tb"},
		{"other scripts are kept", "ключ/名前", "ключ/名前", "ключ/名前"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Line(tc.in); got != tc.line {
				t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
			}
			if got := Text(tc.in); got != tc.text {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
			}
		})
	}
}

func TestJSONEscapesC1AndDecodesToTheSameValue(t *testing.T) {
	in := map[string]string{"key": "/registry/x\u009b2J\u202e\x1b"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := JSON(string(b))
	if Text(out) != out {
		t.Fatalf("JSON left something raw: %q", out)
	}
	var back map[string]string
	if err := json.Unmarshal([]byte(out), &back); err != nil || back["key"] != in["key"] {
		t.Fatalf("decoded %q (%v), want %q", back["key"], err, in["key"])
	}
}
