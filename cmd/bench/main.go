// Command bench runs etcd-dr's benchmarks side by side with the tools an
// operator would use instead (parallel-ssh, ansible, the etcdutl binary) in
// one run, prints a table and writes the rows as JSON (make bench).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Row is one measured figure, with the peer's figure from the same run when
// a peer exists. Ratio is value/peer_value, oriented so that > 1 means
// etcd-dr is better for rates and < 1 for durations (see goal).
type Row struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Peer      string  `json:"peer,omitempty"`
	PeerValue float64 `json:"peer_value,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
	Goal      string  `json:"goal,omitempty"`
	Met       bool    `json:"met"`
	Note      string  `json:"note,omitempty"`
	Measured  bool    `json:"measured"`
	// Quick rows come from a --quick run: sizes too small for the goal,
	// which is set at production sizes, so Met stays false (see markQuick).
	Quick bool `json:"quick,omitempty"`
}

// options size the run; quick() is the CI-sized variant.
type options struct {
	EtcdDR      string // etcd-dr binary for drills
	Hosts       int
	FlushHosts  int // step 5's workers (row 5)
	Concurrency int
	FloodNodes  int
	FloodRate   int // lines per node per second
	FloodFor    time.Duration
	SnapshotMiB []int    // snapshot sizes; distribution runs at the largest
	DiffKeys    int      // keys of the diff summary's snapshot
	Scale       [][2]int // {members, workers}
	Only        string   // comma-separated benchmark names; "" = all
	Quick       bool     // CI sizes: no row may claim a production-size goal
	Progress    io.Writer
}

func defaults() options {
	return options{EtcdDR: "bin/etcd-dr", Hosts: 1000, FlushHosts: 1000, Concurrency: 100, FloodNodes: 50, FloodRate: 1000,
		FloodFor: 30 * time.Second, SnapshotMiB: []int{1024, 8192}, DiffKeys: 1_000_000,
		Scale: [][2]int{{3, 2}, {5, 2}, {7, 2}, {3, 10}, {7, 10}, {3, 100}, {7, 100}}}
}

func (c *options) quick() {
	c.Quick = true
	c.Hosts, c.FloodFor, c.SnapshotMiB, c.DiffKeys = 20, 2*time.Second, []int{8}, 10_000
	c.FlushHosts = 100
	c.Scale = [][2]int{{3, 2}}
}

// bench is one benchmark: its name for -only and its rows.
type bench struct {
	name string
	run  func(ctx context.Context, c options) ([]Row, error)
}

var benches = []bench{
	{"fanout", fanout}, {"flood", flood}, {"snapshot", snapshotBench}, {"diff", diffBench}, {"flush", flushBench}, {"drill", drillRTO}, {"overhead", overheadBench}, {"scale", scale},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := defaults()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "tiny sizes and short durations (CI)")
	out := fs.String("o", "bench/results.json", "where to write the rows as JSON")
	fs.StringVar(&c.EtcdDR, "etcd-dr", c.EtcdDR, "etcd-dr binary the drills run (make build)")
	fs.StringVar(&c.Only, "only", "", "run only these benchmarks (comma-separated: fanout,flood,snapshot,diff,flush,drill,overhead,scale)")
	mib := fs.Int("snapshot-mib", 0, "one snapshot database size in MiB (default 1024 and 8192, 8 with --quick)")
	diffKeys := fs.Int("diff-keys", 0, "keys in the diff summary's snapshot (default 1000000, 10000 with --quick)")
	hosts := fs.Int("hosts", 0, "fan-out endpoints (default 1000, 20 with --quick)")
	flushWorkers := fs.Int("flush-workers", 0, "step 5's workers (default 1000, 100 with --quick)")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile here (go tool pprof)")
	md := fs.String("markdown", "", "print the README tables of this results file and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *md != "" {
		if err := writeMarkdown(stdout, *md); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	if *cpuProfile != "" {
		stop, err := startProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer stop()
	}
	if *quick {
		c.quick()
	}
	if *mib > 0 {
		c.SnapshotMiB = []int{*mib}
	}
	if *diffKeys > 0 {
		c.DiffKeys = *diffKeys
	}
	if *hosts > 0 {
		c.Hosts = *hosts
	}
	if *flushWorkers > 0 {
		c.FlushHosts = *flushWorkers
	}
	c.Progress = stderr
	rows, failed := runAll(ctx, c)
	printTable(stdout, rows)
	if err := writeJSON(*out, rows); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}

func runAll(ctx context.Context, c options) ([]Row, bool) {
	var rows []Row
	failed := false
	for _, b := range benches {
		if c.Only != "" && !strings.Contains(","+c.Only+",", ","+b.name+",") {
			continue
		}
		fmt.Fprintf(c.Progress, "bench: %s ...\n", b.name)
		start := time.Now()
		r, err := b.run(ctx, c)
		if c.Quick {
			markQuick(r)
		}
		rows = append(rows, r...)
		if err != nil {
			failed = true
			fmt.Fprintf(c.Progress, "bench: %s failed: %v\n", b.name, err)
			rows = append(rows, Row{Name: b.name, Note: "failed: " + err.Error()})
		}
		fmt.Fprintf(c.Progress, "bench: %s done in %s\n", b.name, time.Since(start).Round(time.Second))
	}
	return rows, failed
}

// markQuick marks a quick run's rows: a goal is set at production sizes, so
// a quick row never meets it; the note says where the small size fell.
func markQuick(rows []Row) {
	for i := range rows {
		r := &rows[i]
		r.Quick = true
		met := r.Met
		r.Met = false
		if r.Goal == "" {
			continue
		}
		at := "outside"
		if met {
			at = "within"
		}
		r.Note = strings.TrimPrefix(r.Note+"; ", "; ") + "quick size: " + at + " the goal at this size, not measured at full size"
	}
}

func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeJSON(path string, rows []Row) error {
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w (run from the repository root, or pass -o)", path, err)
	}
	return nil
}

func printTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tetcd-dr\tpeer\tratio\tgoal\tmet")
	for _, r := range rows {
		peer, ratio := "", ""
		if r.Peer != "" {
			peer = fmt.Sprintf("%s %s", num(r.PeerValue), r.Peer)
			ratio = fmt.Sprintf("%.2f×", r.Ratio)
		}
		met := "no"
		if r.Met {
			met = "yes"
		}
		if r.Quick && r.Goal != "" {
			met = "quick"
		}
		if r.Goal == "" {
			met = ""
		}
		if r.Note != "" {
			met += " (" + r.Note + ")"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\n", r.Name, num(r.Value), r.Unit, peer, ratio, r.Goal, met)
	}
	tw.Flush()
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// ratio is a/b, 0 when b is 0 (the peer measured nothing).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
