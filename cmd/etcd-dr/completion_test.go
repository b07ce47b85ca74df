package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestEveryCommandShowsAnExample(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if !c.Hidden && c.Name() != "help" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Example == "" {
			t.Errorf("%q has no Example section in its help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestFlagValuesComplete(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "check", "-o", ""}, []string{"text", "json"}},
		{[]string{"__complete", "drill", "--topology", ""}, []string{"stacked", "external"}},
		{[]string{"__complete", "lab", "up", "--etcd-mode", ""}, []string{"static-pod", "systemd"}},
		{[]string{"__complete", "run", "--override", ""}, []string{"encryption-at-rest", "ca-era", "automation"}},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			code, out, errOut := cli(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("completion lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestManPagesAreWrittenForEveryCommand(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := cli(t, "man", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, page := range []string{"etcd-dr.1", "etcd-dr-run.1", "etcd-dr-snapshot-diff.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), ".TH") {
			t.Errorf("%s: %v, not a man page", page, err)
		}
	}
}
