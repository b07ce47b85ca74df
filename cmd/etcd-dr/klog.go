package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/klog/v2"

	"github.com/etcd-dr/etcd-dr/steps"
)

// libraryLog takes what client-go logs through klog (watch and reflector
// notices, transport retries) off the terminal, where it tore through the
// console's screen and headless output, into library.log next to the
// journal of the session that is open. klog is one per process, so this
// is too: installed at init, before any goroutine can log (klog's setters
// are not safe against concurrent log calls), and pointed at each session's
// file while it is open. With no session open (the lab daemon, `lab up`),
// lines go to stderr as klog would write them.
type libraryLog struct {
	mu sync.Mutex
	w  io.Writer
}

var libLog = &libraryLog{}

func init() { routeKlog() }

// routeKlog installs libLog as klog's only output: klog writes nothing to
// stderr once a logger is set (klog.go output), its printf-style lines come
// through WriteKlogBuffer with their usual header, and its structured ones
// through the funcr logger (the kept logr implementation).
func routeKlog() {
	structured := funcr.New(func(prefix, args string) {
		libLog.write([]byte(time.Now().UTC().Format(time.RFC3339Nano) + " " + prefix + " " + args + "\n"))
	}, funcr.Options{Verbosity: 0})
	klog.SetLoggerWithOptions(structured, klog.WriteKlogBuffer(libLog.write))
}

func (l *libraryLog) write(b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		_, _ = os.Stderr.Write(b)
		return
	}
	text := steps.Scrub(string(b)) // a client's log line could carry a header value
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text += "\n"
	}
	_, _ = io.WriteString(l.w, text) // a full disk must not stop a restore midway
}

// to points the log at w until the returned release is called.
func (l *libraryLog) to(w io.Writer) (release func()) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.w == w {
			l.w = nil
		}
	}
}

// openLibraryLog routes klog into the session journal's library.log.
func openLibraryLog(j interface{ OpenLibraryLog() (*os.File, error) }) (release func(), err error) {
	f, err := j.OpenLibraryLog()
	if err != nil {
		return nil, fmt.Errorf("library log: %w", err)
	}
	rel := libLog.to(f)
	return func() { rel(); f.Close() }, nil
}
