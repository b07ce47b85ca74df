package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// markerFile marks a directory the lab created. Lab up empties a lab dir's
// nodes/, pki/, state/ and timeline/ and overwrites its files: in a
// directory the lab did not create, such as `--dir .` beside a production
// cluster file with `state.dir: state`, that would delete a real journal.
const markerFile = ".etcd-dr-lab"

// claimDir makes dir the lab's: a missing or empty directory is created
// and marked; a marked one is already the lab's, and so is one an older lab
// (before the marker) left, recognised by its state file naming this very
// directory; any other is refused, and nothing in it is touched.
func claimDir(dir string) error {
	if dir == "" {
		return errors.New("lab up: no lab directory given")
	}
	marker := filepath.Join(dir, markerFile)
	if _, err := os.Lstat(marker); err == nil {
		return nil
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("lab up: %w", err)
		}
	case err != nil:
		return fmt.Errorf("lab up: %s: %w", dir, err)
	case len(entries) > 0 && !olderLabDir(dir):
		return fmt.Errorf("lab up: refusing %s: it is not empty and the lab did not create it (no %s in it); "+
			"the lab empties its nodes/, pki/, state/ and timeline/ and would delete what is there: "+
			"give --dir a new or empty directory", dir, markerFile)
	}
	body := "This directory was created by etcd-dr's drill lab. `etcd-dr lab up --dir` empties its\n" +
		"nodes/, pki/, state/ and timeline/; it refuses any directory without this file.\n"
	if err := os.WriteFile(marker, []byte(body), 0o644); err != nil {
		return fmt.Errorf("lab up: mark %s as the lab's: %w", dir, err)
	}
	return nil
}

// olderLabDir: dir holds the state file a lab writes (lab.json), and that
// file names dir itself as the lab's directory: only a lab writes that.
func olderLabDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return false
	}
	var st State
	if jsonUnmarshal(b, &st) != nil {
		return false
	}
	abs, err := filepath.Abs(dir)
	return err == nil && st.Dir != "" && filepath.Clean(st.Dir) == abs
}
