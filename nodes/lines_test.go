package nodes

import (
	"strings"
	"sync"
	"testing"
)

func TestLineWriterCutsStreamsIntoLines(t *testing.T) {
	tests := []struct {
		name      string
		nonce     string // set: a wrapped command's stderr
		writes    []string
		wantLines []string
		wantKept  string
		wantPID   int
	}{
		{name: "lines split across writes are joined", writes: []string{"hel", "lo\nwor", "ld\n"},
			wantLines: []string{"hello", "world"}, wantKept: "hello\nworld\n"},
		{name: "CRLF endings lose the CR in lines but not in the kept output", writes: []string{"a\r\n"},
			wantLines: []string{"a"}, wantKept: "a\r\n"},
		{name: "an unterminated last line is delivered at the end", writes: []string{"x\ny"},
			wantLines: []string{"x", "y"}, wantKept: "x\ny"},
		{name: "the wrapper's pid line is taken out of stderr", nonce: "N0", writes: []string{pidMarker + "N0 4242\nreal error\n"},
			wantLines: []string{"real error"}, wantKept: "real error\n", wantPID: 4242},
		{name: "the pid line is found after a warning sudo printed first", nonce: "N0",
			writes:    []string{"sudo: unable to resolve host cp-1: Name or service not known\n", pidMarker + "N0 4242\n"},
			wantLines: []string{"sudo: unable to resolve host cp-1: Name or service not known"},
			wantKept:  "sudo: unable to resolve host cp-1: Name or service not known\n", wantPID: 4242},
		{name: "a pid-looking line with another nonce is output", nonce: "N0", writes: []string{pidMarker + "N1 1\n"},
			wantLines: []string{pidMarker + "N1 1"}, wantKept: pidMarker + "N1 1\n"},
		{name: "a second pid line after the first is output", nonce: "N0", writes: []string{pidMarker + "N0 7\n" + pidMarker + "N0 1\n"},
			wantLines: []string{pidMarker + "N0 1"}, wantKept: pidMarker + "N0 1\n", wantPID: 7},
		{name: "stdout has no pid line", writes: []string{pidMarker + "N0 7\n"},
			wantLines: []string{pidMarker + "N0 7"}, wantKept: pidMarker + "N0 7\n"},
		{name: "a line longer than the limit is delivered in pieces", writes: []string{strings.Repeat("z", maxLine+10)},
			wantLines: []string{strings.Repeat("z", maxLine), strings.Repeat("z", 10)}, wantKept: strings.Repeat("z", maxLine+10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var mu sync.Mutex
			w := newLineWriter("cp-1", Stdout, func(l Line) {
				if l.Node != "cp-1" {
					t.Errorf("node %q", l.Node)
				}
				got = append(got, l.Text)
			}, &mu, tt.nonce)
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			kept := w.finish()
			if strings.Join(got, "|") != strings.Join(tt.wantLines, "|") || kept != tt.wantKept || w.remotePID() != tt.wantPID {
				t.Fatalf("lines %q kept %q pid %d", got, kept, w.remotePID())
			}
		})
	}
}

func TestLineWriterKeepsAtMostMaxCollectButStreamsEverything(t *testing.T) {
	var mu sync.Mutex
	lines := 0
	w := newLineWriter("cp-1", Stdout, func(Line) { lines++ }, &mu, "")
	line := strings.Repeat("x", 1023) + "\n"
	total := 2 * MaxCollect / len(line)
	for range total {
		_, _ = w.Write([]byte(line))
	}
	if kept := w.finish(); len(kept) != MaxCollect {
		t.Fatalf("kept %d bytes, want %d", len(kept), MaxCollect)
	}
	if lines != total {
		t.Fatalf("streamed %d lines, want %d", lines, total)
	}
}
