package labtest

import (
	"strings"
	"testing"
)

// fakeT records a Fatalf instead of ending the goroutine.
type fakeT struct {
	testing.TB
	name  string
	fatal string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Name() string                   { return f.name }
func (f *fakeT) Logf(string, ...any)            {}
func (f *fakeT) Cleanup(fn func())              { fn() }
func (f *fakeT) Fatalf(format string, a ...any) { f.fatal = format }

// A block is one test's: a second test claiming it fails, naming both;
// the same test again (-count=2) does not.
func TestABlockClaimedByAnotherTestFailsTheSecond(t *testing.T) {
	a := &fakeT{TB: t, name: "TestA"}
	Block(a, 253)
	if a.fatal != "" {
		t.Fatalf("first claim failed: %s", a.fatal)
	}
	again := &fakeT{TB: t, name: "TestA"}
	Block(again, 253)
	if again.fatal != "" {
		t.Fatalf("the same test claiming again failed: %s", again.fatal)
	}
	b := &fakeT{TB: t, name: "TestB"}
	Block(b, 253)
	if !strings.Contains(b.fatal, "already used by") {
		t.Fatalf("a second test's claim of the same block did not fail: %q", b.fatal)
	}
}
