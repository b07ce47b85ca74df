package main

import (
	"fmt"
	"github.com/etcd-dr/etcd-dr/nodes/lab"
	"github.com/etcd-dr/etcd-dr/steps"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"
)

// flagValues are the values shells offer for flags that take one of a few
// words, by flag name, on every command that has such a flag: a new command
// gets completion by naming its flag like the others.
var flagValues = map[string][]string{
	"output":       {"text", "json"},
	"topology":     {"stacked", "external"},
	"etcd-mode":    {"static-pod", "systemd"},
	"etcd-version": {"3.6.6", "3.7.3"},
}

// examples are the Example sections of the commands' help, by command path:
// kept together so that every command has one (a test walks the tree) and
// they read as one consistent set.
var examples = map[string]string{
	"etcd-dr": `  etcd-dr check -f cluster.yaml                      # read-only: config, SSH, sudo, disk on every node
  etcd-dr console -f cluster.yaml                    # the gated restore in the terminal UI
  etcd-dr drill                                      # rehearse on a local lab`,
	"etcd-dr check": `  etcd-dr check -f cluster.yaml
  etcd-dr check -f cluster.yaml -o json
  etcd-dr check -f cluster.yaml --print-config       # the file with every default filled; no SSH`,
	"etcd-dr plan":    `  etcd-dr plan -f cluster.yaml | less`,
	"etcd-dr console": `  tmux new -s restore 'etcd-dr console -f cluster.yaml'   # survives a dropped SSH session`,
	"etcd-dr run": `  etcd-dr run -f cluster.yaml --headless --confirm prod-eu1
  etcd-dr run -f cluster.yaml --headless --confirm prod-eu1 -o json > scorecard.json`,
	"etcd-dr rollback": `  etcd-dr rollback -f cluster.yaml`,
	"etcd-dr watch":    `  etcd-dr watch -f cluster.yaml                      # a second pair of eyes, read-only`,
	"etcd-dr drill": `  etcd-dr drill
  etcd-dr drill --headless -o json
  etcd-dr drill --topology external --etcd-mode systemd --workers 1
  etcd-dr drill --fault list
  etcd-dr drill --fault sshd-frozen@restore-etcd,apiserver-wont-stop@stop-apiservers   # a game day`,
	"etcd-dr lab": `  etcd-dr lab up --dir /tmp/lab && etcd-dr console -f /tmp/lab/cluster.yaml
  etcd-dr lab verify --dir /tmp/lab && etcd-dr lab down --dir /tmp/lab`,
	"etcd-dr lab up":     `  etcd-dr lab up --dir /tmp/lab --nodes 3 --workers 2`,
	"etcd-dr lab status": `  etcd-dr lab status --dir /tmp/lab`,
	"etcd-dr lab verify": `  etcd-dr lab verify --dir /tmp/lab`,
	"etcd-dr lab down":   `  etcd-dr lab down --dir /tmp/lab`,
	"etcd-dr snapshot": `  etcd-dr snapshot status /backups/etcd/snap.db
  etcd-dr snapshot diff /backups/etcd/snap.db -f cluster.yaml`,
	"etcd-dr snapshot status":  `  etcd-dr snapshot status /backups/etcd/snap.db -o json`,
	"etcd-dr snapshot inspect": `  etcd-dr snapshot inspect /backups/etcd/snap.db`,
	"etcd-dr snapshot diff":    `  etcd-dr snapshot diff /backups/etcd/snap.db -f cluster.yaml -o json`,
	"etcd-dr snapshot save":    `  etcd-dr snapshot save -f cluster.yaml --out /backups/etcd/$(date -u +%Y%m%dT%H%M%SZ).db`,
	"etcd-dr tools": `  etcd-dr tools                                      # the etcdutl/etcdctl this bastion can bring, with sha256
  etcd-dr tools -f cluster.yaml                      # those of the cluster file's etcd.toolsDir`,
	"etcd-dr tools build": `  etcd-dr tools build --etcd-version 3.6.6`,
	"etcd-dr completion": `  source <(etcd-dr completion bash)
  etcd-dr completion zsh > "${fpath[1]}/_etcd-dr"`,
}

// addCompletions registers value completion on every command under root
// (the fixed words above, and cluster files, *.yaml and *.yml, for -f) and
// fills in the Example sections.
func addCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if ex, ok := examples[c.CommandPath()]; ok && c.Example == "" {
			c.Example = ex
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if words, ok := flagValues[f.Name]; ok {
				_ = c.RegisterFlagCompletionFunc(f.Name, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp))
			}
			if f.Name == "fault" {
				_ = c.RegisterFlagCompletionFunc("fault", completeFaults)
			}
			if f.Name == "file" {
				_ = c.MarkFlagFilename("file", "yaml", "yml")
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// newManCmd writes one man page per command (section 1) into a directory,
// from the same command tree as --help, so the two never disagree.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "man DIR",
		Short:   "Write etcd-dr's man pages (section 1) into DIR",
		Example: "  etcd-dr man /usr/local/share/man/man1 && man etcd-dr-run",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return failErr(err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // reproducible pages: no generation date
			if err := doc.GenManTree(root, &doc.GenManHeader{Title: "ETCD-DR", Section: "1", Source: "etcd-dr " + buildVersion().Version}, dir); err != nil {
				return failErr(fmt.Errorf("man pages: %w", err))
			}
			n, _ := filepath.Glob(filepath.Join(dir, "*.1"))
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d man pages to %s\n", len(n), dir)
			return nil
		},
	}
}

// completeFaults offers `list`, every registered fault, and NAME@STEP forms.
func completeFaults(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
	out := []string{"list"}
	for _, f := range lab.Faults() {
		out = append(out, f.Name+"\t"+f.Help)
		for _, st := range steps.Runbook() {
			out = append(out, f.Name+"@"+string(st.ID))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
