package tui

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/etcd-dr/etcd-dr/steps"
)

// headless are program options for a console with no terminal.
func headless() []tea.ProgramOption {
	return []tea.ProgramOption{tea.WithInput(nil), tea.WithOutput(io.Discard), tea.WithWindowSize(80, 24), tea.WithoutSignals()}
}

func TestRunStopsWithItsContextAndLeavesNothingRunning(t *testing.T) {
	events := make(chan steps.Event) // never closed: the reader must still stop
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, Options{Cluster: testCluster(), Events: events, Decide: func(steps.Decision) {}}, headless()...)
	}()
	events <- stepEv(0, steps.Preflight, steps.Running, "") // proves the reader runs
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want it to wrap context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	// goleak in TestMain fails the package if the reader or the clock leaked.
}

func TestEventsArriveInBatchesNotOneFramePerEvent(t *testing.T) {
	tests := []struct {
		name       string
		queued     int
		linesEach  int // lines in each queued event; 1 if 0
		close      bool
		wantEvents int
		wantClosed bool
	}{
		{name: "everything already queued comes as one batch", queued: 500, wantEvents: 500},
		{name: "a batch stops at the cap so Update stays short", queued: maxBatch + 10, wantEvents: maxBatch},
		{name: "a backlog of lines is taken a frame's cap at a time", queued: 40, linesEach: 1000, wantEvents: maxBatchLines/1000 + 1},
		{name: "the last events come with the news that the engine ended", queued: 3, close: true, wantEvents: 3, wantClosed: true},
		{name: "an ended engine with nothing queued says so", close: true, wantClosed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan steps.Event, tc.queued)
			for i := range tc.queued {
				ev := logEv(i, "cp-1", "x")
				if tc.linesEach > 0 {
					ev.Lines = slices.Repeat(ev.Lines, tc.linesEach)
				}
				ch <- ev
			}
			if tc.close {
				close(ch)
			}
			msg := readEvents(ch, nil)().(eventsMsg)
			if len(msg.events) != tc.wantEvents || msg.closed != tc.wantClosed {
				t.Fatalf("batch of %d closed=%v, want %d closed=%v", len(msg.events), msg.closed, tc.wantEvents, tc.wantClosed)
			}
		})
	}
}

func TestEventReaderStopsWhenTheConsoleStops(t *testing.T) {
	done := make(chan struct{})
	got := make(chan tea.Msg, 1)
	go func() { got <- readEvents(make(chan steps.Event), done)() }()
	close(done)
	select {
	case msg := <-got:
		if msg != nil {
			t.Fatalf("reader returned %v, want nothing", msg)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader outlived the console")
	}
}
