package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/etcd-dr/etcd-dr/steps/journal"
)

// client-go logs through klog straight to the process's stderr, under the
// console's screen and into headless output. While a session is open, every
// kind of klog line (printf-style, structured, errors) goes to library.log
// next to its journal instead, and nothing reaches stderr; a token-looking
// value is scrubbed as in the transcript. Not parallel: klog and os.Stderr
// are the process's own.
func TestClientGoLogsGoToTheLibraryLogNotTheTerminal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), "drill")
	must(t, err)
	defer j.Close()
	closeLog, err := openLibraryLog(j)
	must(t, err)

	r, w, err := os.Pipe()
	must(t, err)
	saved := os.Stderr
	os.Stderr = w
	for _, tc := range []struct {
		name string
		log  func()
		want string
	}{
		{"a printf-style warning", func() { klog.Warningf("probe-warning %d", 1) }, "probe-warning 1"},
		{"a structured info line", func() { klog.InfoS("probe-structured", "resource", "leases") }, `"msg"="probe-structured" "resource"="leases"`},
		{"an error", func() { klog.ErrorS(io.EOF, "probe-error") }, `"msg"="probe-error" "error"="EOF"`},
		{"a bearer token in a line", func() { klog.Infof("probe-header Authorization: Bearer abcdefghijklmnop123456") }, "probe-header"},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.log() })
		defer func(want, name string) {
			b, err := os.ReadFile(filepath.Join(j.DirPath(), "library.log"))
			must(t, err)
			if !strings.Contains(string(b), want) {
				t.Errorf("%s: library.log lacks %q:\n%s", name, want, b)
			}
		}(tc.want, tc.name)
	}
	klog.Flush()
	os.Stderr = saved
	w.Close()
	leaked, _ := io.ReadAll(r)
	if len(leaked) > 0 {
		t.Errorf("klog wrote to stderr while a session was open:\n%s", leaked)
	}
	closeLog()
	b, err := os.ReadFile(filepath.Join(j.DirPath(), "library.log"))
	must(t, err)
	if strings.Contains(string(b), "abcdefghijklmnop123456") {
		t.Errorf("a bearer token reached library.log:\n%s", b)
	}
	klog.Warning("probe-after-close")
	b2, _ := os.ReadFile(filepath.Join(j.DirPath(), "library.log"))
	if strings.Contains(string(b2), "probe-after-close") {
		t.Errorf("a line logged after the session closed reached its library.log")
	}
}
