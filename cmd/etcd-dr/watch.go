package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/tui"
)

// watchEvery is how often watch looks at the journal: often enough for a
// second pair of eyes, rare enough to cost nothing on the bastion.
const watchEvery = 500 * time.Millisecond

func newWatchCmd() *cobra.Command {
	var file string
	c := &cobra.Command{
		Use:   "watch -f cluster.yaml",
		Short: "Follow a run in progress read-only, from its journal",
		Long: `watch shows the console's screen for the run the operator is driving, read
from the journal and transcript under state.dir: steps, nodes, gates decided,
every check, the gate in front of the operator, and every command's output.
It answers no gate and changes nothing; quitting it leaves the run alone.
(A journal written before checks and gates were journaled shows the
inventory's component columns as "?".)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := loadCluster(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			path := journal.FilePath(cl.State.Dir, cl.Name)
			if _, err := os.Stat(path); err != nil {
				return failErr(fmt.Errorf("no journal to follow at %s (%v): has the operator started "+
					"`etcd-dr console -f FILE`? Is state.dir in %s the one on their bastion?", path, err, file))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch := make(chan steps.Event)
			followErr := make(chan error, 1)
			go func() { followErr <- steps.NewJournalFollower(path).Follow(ctx, ch, watchEvery) }()
			err = tui.Run(ctx, tui.Options{Cluster: cl, Events: ch, ReadOnly: true})
			cancel()
			ferr := <-followErr
			var q *tui.QuitError
			if errors.As(err, &q) {
				return nil // a watcher leaving changes nothing
			}
			if err != nil {
				return failErr(err)
			}
			return failErr(ferr)
		},
	}
	fileFlag(c, &file)
	return c
}
