package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOnlyARegularFileOfAFittingSizeIsRead(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	if err := os.WriteFile(path("journal.jsonl"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", path("zero")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path("journal.jsonl"), path("link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path("huge"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path("huge"), 4<<30); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		reason     error
		says       string
	}{
		{"a regular file is read", "journal.jsonl", nil, ""},
		{"a link to a regular file is read", "link", nil, ""},
		{"a FIFO is refused at once, not waited on", "fifo", ErrNotRegular, "it is a named pipe (FIFO)"},
		{"a link to /dev/zero is refused", "zero", ErrNotRegular, "it is a character device"},
		{"a directory is refused", ".", ErrNotRegular, "it is a directory"},
		{"a file larger than the cap is refused unread", "huge", ErrTooLarge, "4294967296 bytes, more than the 1048576"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { _, err := ReadFile(path(tc.file), 1<<20); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute): // an open that returns does so at once; a blocked one never does
				t.Fatal("ReadFile still blocked after a minute")
			}
			if tc.reason == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.reason) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), path(tc.file)) {
				t.Fatalf("ReadFile = %v, want %v naming the file and saying %q", err, tc.reason, tc.says)
			}
		})
	}
}
