package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// writeMarkdown prints the README's tables from a results file, so the
// README shows exactly one run's figures: the main table, the drill's
// steps, and steps 1, 2 and 5 per scale size.
func writeMarkdown(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rows []Row
	if err := json.Unmarshal(b, &rows); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Fprintln(w, "| benchmark | etcd-dr | peer (same run) | ratio | goal | met | note |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var steps []string
	scale := map[string]map[string]string{}
	var sizes []string
	for _, r := range rows {
		switch {
		case strings.HasPrefix(r.Name, "drill step "):
			steps = append(steps, fmt.Sprintf("%s %s s", strings.TrimPrefix(r.Name, "drill step "), num(r.Value)))
		case strings.HasPrefix(r.Name, "scale "):
			size, step, _ := strings.Cut(strings.TrimPrefix(r.Name, "scale "), ": ")
			if scale[size] == nil {
				scale[size] = map[string]string{}
				sizes = append(sizes, size)
			}
			scale[size][step] = num(r.Value) + " s"
		default:
			fmt.Fprintln(w, markdownRow(r))
		}
	}
	if len(steps) > 0 {
		fmt.Fprintf(w, "\nDrill steps (3 members + 2 workers): %s\n", strings.Join(steps, ", "))
	}
	if len(sizes) > 0 {
		fmt.Fprintf(w, "\n| scale (members + workers) | step 1 %s | step 2 %s | step 5 %s |\n|---|---|---|---|\n", scaleSteps[0], scaleSteps[1], scaleSteps[2])
		for _, s := range sizes {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", s, scale[s][scaleSteps[0]], scale[s][scaleSteps[1]], scale[s][scaleSteps[2]])
		}
	}
	return nil
}

func markdownRow(r Row) string {
	peer, rat := "", ""
	if r.Peer != "" && r.PeerValue != 0 {
		peer = fmt.Sprintf("%s %s (%s)", num(r.PeerValue), r.Unit, r.Peer)
		rat = fmt.Sprintf("%.2f×", r.Ratio)
	}
	met := ""
	switch {
	case r.Goal != "" && r.Quick:
		met = "quick size"
	case r.Goal != "" && r.Met:
		met = "yes"
	case r.Goal != "":
		met = "**no**"
	}
	return fmt.Sprintf("| %s | %s %s | %s | %s | %s | %s | %s |", r.Name, num(r.Value), r.Unit, peer, rat, r.Goal, met, r.Note)
}
