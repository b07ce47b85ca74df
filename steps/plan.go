package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
)

// PlannedStep is one step as `etcd-dr plan` and the gates show it.
type PlannedStep struct {
	Index       int
	ID          StepID
	Title, Why  string
	Destructive bool
	Actions     []Action
	Facts       []string
	// Diffs are the file changes, sketched with placeholders where the
	// file is read or a value decided only at run time.
	Diffs []FileDiff
	// Waits are the step's per-node deadlines, once the files that size
	// them were read (preflight).
	Waits []Wait
}

// PlanSteps lists every step with its exact commands per node, touching
// no node. Values not decided yet (no preflight) render as placeholders.
func PlanSteps(cl *config.Cluster, v Values, steps []Step) ([]PlannedStep, error) {
	if steps == nil {
		steps = Runbook()
	}
	c := &Context{Cluster: cl, Values: v, LockPath: DefaultLockPath}
	var out []PlannedStep
	for i, s := range steps {
		c.step = s.ID
		ps := PlannedStep{Index: i, ID: s.ID, Title: s.Title, Why: s.Why, Destructive: s.Destructive}
		if s.Plan != nil {
			acts, err := s.Plan(c)
			if err != nil {
				return nil, fmt.Errorf("plan %s: %w", s.ID, err)
			}
			ps.Actions = acts
			ps.Diffs = cleanGate(Gate{Diffs: c.diffsOf(context.Background(), acts, false)}).Diffs
		}
		if s.Facts != nil {
			ps.Facts = s.Facts(c)
		}
		if s.Waits != nil {
			ps.Waits = s.Waits(c)
		}
		out = append(out, ps)
	}
	return out, nil
}

// PlanText renders the restore plan for a terminal or a change ticket.
func PlanText(cl *config.Cluster, v Values) (string, error) { return PlanTextOf(cl, v, Runbook()) }

// PlanTextOf renders the plan of a runbook (Runbook, RollbackRunbook).
func PlanTextOf(cl *config.Cluster, v Values, runbook []Step) (string, error) {
	steps, err := PlanSteps(cl, v, runbook)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	source := fmt.Sprintf("snapshot %s on %s", cl.Snapshot.Path, orBastion(cl.Snapshot.On))
	if cl.Snapshot.From != "" {
		source = "snapshot taken from a member's data (snapshot.from: " + cl.Snapshot.From + ")" // source_member.go
	}
	fmt.Fprintf(&b, "Restore plan for cluster %s (%d nodes), %s\n", cl.Name, len(cl.Nodes), source)
	if v.Run == "" {
		b.WriteString("Values in <ANGLE_BRACKETS> are decided or read in preflight; the gates show them filled in.\n")
	}
	for _, s := range steps {
		fmt.Fprintf(&b, "\nStep %d/%d  %s — %s\n", s.Index, len(steps)-1, s.ID, s.Title)
		if s.Destructive {
			fmt.Fprintf(&b, "  GATE: destructive; type the cluster name %q to proceed\n", cl.Name)
		} else {
			b.WriteString("  GATE: confirm to proceed\n")
		}
		fmt.Fprintf(&b, "  Why: %s\n", s.Why)
		for _, f := range s.Facts {
			fmt.Fprintf(&b, "  • %s\n", strings.ReplaceAll(f, "\n", "\n    "))
		}
		node := ""
		for _, a := range s.Actions {
			if a.Node != node {
				node = a.Node
				fmt.Fprintf(&b, "  on %s:\n", node)
			}
			fmt.Fprintf(&b, "    # %s\n    $ %s\n", a.What, indent(CommandLine(a.Cmd, true), "      "))
		}
		if len(s.Actions) == 0 {
			b.WriteString("  (no commands)\n")
		}
		writeDiffs(&b, s.Diffs)
	}
	return b.String(), nil
}

func orBastion(on string) string {
	if on == "" {
		return config.SnapshotOnBastion
	}
	return on
}

func indent(s, pre string) string { return strings.ReplaceAll(s, "\n", "\n"+pre) }

// writeDiffs prints the file changes of a step, each under its node and
// file, the diff indented as the commands are.
func writeDiffs(b *strings.Builder, ds []FileDiff) {
	if len(ds) == 0 {
		return
	}
	b.WriteString("  Files changed:")
	b.WriteString(diffLines(ds))
	b.WriteString("\n")
}

// diffLines renders diffs for a terminal or a log, each line after a
// newline: a move as one line, an edit as its header and whole diff.
func diffLines(ds []FileDiff) string {
	var b strings.Builder
	for _, d := range ds {
		if d.From != "" && d.Back {
			fmt.Fprintf(&b, "\n    %s: move %s → %s and back (content unchanged; the kubelet restarts the pod)", d.Node, d.From, d.Path)
			continue
		}
		if d.From != "" {
			fmt.Fprintf(&b, "\n    %s: move %s → %s (content unchanged)", d.Node, d.From, d.Path)
			continue
		}
		fmt.Fprintf(&b, "\n    %s: %s", d.Node, d.Path)
		switch {
		case d.Unread != "":
			b.WriteString(" (not read: " + d.Unread + "; the lines that change)")
		case d.Placeholder:
			b.WriteString(" (the lines that change; the gate shows the diff of the file as read then)")
		}
		for l := range strings.SplitSeq(strings.TrimSuffix(d.Unified, "\n"), "\n") {
			fmt.Fprintf(&b, "\n      %s", l)
		}
	}
	return b.String()
}
