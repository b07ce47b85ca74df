package tui

import (
	"testing"

	"github.com/etcd-dr/etcd-dr/steps"
)

// sourcePickGate is step 1's gate with snapshot.from: best-member, as the
// engine offers it (steps/source_member.go): the ranked members as typed
// choices, the most advanced first and the default.
func sourcePickGate() steps.Gate {
	g := stopGate()
	g.Choices = []steps.Choice{steps.SourceChoiceOf("cp-2"), steps.SourceChoiceOf("cp-1")}
	g.Default = g.Choices[0]
	g.Facts = append(g.Facts,
		"snapshot source: a member's data (snapshot.from: best-member); the members ranked, most advanced first; the restore takes cp-2's db unless another is picked here",
		"1. cp-2 (cp-2): revision 303, consistent index 412, 264 keys, 16801792 bytes; live raft index 412, applied 412; picking it against cp-1: loses nothing it holds",
		"2. cp-1 (cp-1): revision 290, consistent index 398, 261 keys, 16801792 bytes; its etcd did not answer (raft index unknown); picking it against cp-2: loses 3 keys (3 it never got, 0 older, 0 deleted there and revived), revision 290 against 303",
		"3. cp-3: not ranked: its db cannot be read: stat: cannot statx '/var/lib/etcd/member/snap/db': Not a directory")
	return g
}

func TestTheSourceGatePicksAMemberAsATypedChoice(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		want *steps.Decision
	}{
		{"enter with the name takes the default, the most advanced member", keys("prod-eu1", "enter"),
			&steps.Decision{Proceed: true, Choice: steps.SourceChoiceOf("cp-2"), Typed: "prod-eu1", By: "sre@bastion"}},
		{"right picks the next member", keys("right", "prod-eu1", "enter"),
			&steps.Decision{Proceed: true, Choice: steps.SourceChoiceOf("cp-1"), Typed: "prod-eu1", By: "sre@bastion"}},
		{"no member is picked without the cluster name", keys("enter"), nil},
		{"abort is still offered last and sends no choice", keys("left", "enter"), &steps.Decision{By: "sre@bastion"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGateDialog(defaultKeys(), "prod-eu1", false)
			g.SetSize(100, 30)
			g.ask(sourcePickGate(), "")
			var got *steps.Decision
			for _, k := range tc.keys {
				if d, _ := g.Update(keyMsg(k), "sre@bastion"); d != nil {
					got = d
				}
			}
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("decision %+v, want none", *got)
			case tc.want != nil && got == nil:
				t.Fatalf("no decision (dialog says %q), want %+v", g.err, *tc.want)
			case tc.want != nil && *got != *tc.want:
				t.Fatalf("decision %+v, want %+v", *got, *tc.want)
			}
		})
	}
}
