package steps

import (
	"fmt"
	"io"
	"slices"
)

// headlessOverrides are the readiness checks `run --headless --override`
// names: the headless counterpart of typing `override CHECK` at preflight's
// failure gate in the console. Each is chosen at most once, and only when
// the gate offers it (a failed, overridable check), with --confirm as the
// typed cluster name; the engine then journals it as it does the console's
// (overrideReadiness). A check that fails again after its override, or a
// failed check --override does not name, backs the run out as before.
type headlessOverrides struct {
	names []string
	used  map[string]bool
}

// choose returns the override choice for g, if g is a failure gate that
// offers one of o's checks not chosen yet.
func (o *headlessOverrides) choose(g Gate) (Choice, string, bool) {
	if g.Failure == "" {
		return "", "", false
	}
	for _, c := range g.Choices {
		if check, ok := c.Overrides(); ok && slices.Contains(o.names, check) && !o.used[check] {
			o.used[check] = true
			return c, check, true
		}
	}
	return "", "", false
}

// HeadlessOverriding is Headless that also overrides, at preflight's
// failure gate, the readiness checks named in override (--override).
func HeadlessOverriding(e *Engine, confirm, who string, override []string, w io.Writer) {
	headless(e, confirm, who, &headlessOverrides{names: override, used: map[string]bool{}}, w)
}

// decideOverride answers g with the override of check, as the console's
// `override CHECK` with the cluster name typed.
func decideOverride(e *Engine, g GateEvent, c Choice, check, confirm, who string, w io.Writer) {
	fmt.Fprintf(w, "%s headless: overriding readiness check %s, as --override names it (cluster name from --confirm; journaled)\n", stamp(g.At), check)
	e.Decide(Decision{Proceed: true, Choice: c, Typed: confirm, By: who + " (--override " + check + ")"})
}
