package steps

import (
	"strings"
	"testing"
)

// default/kubernetes must list exactly the running apiservers: a stale IP
// (an apiserver that no longer runs) and a missing one both fail, named.
func TestSameIPsNamesStaleAndMissingApiservers(t *testing.T) {
	want := []string{"10.0.0.11", "10.0.0.12"}
	for _, tc := range []struct {
		name string
		got  []string
		err  string // "" when the lists match
	}{
		{"the running apiservers, in any order and repeated", []string{"10.0.0.12", "10.0.0.11", "10.0.0.12"}, ""},
		{"an apiserver that no longer runs is stale", []string{"10.0.0.11", "10.0.0.12", "10.0.0.99"}, "stale [10.0.0.99], missing []"},
		{"a running apiserver not listed is missing", []string{"10.0.0.11"}, "stale [], missing [10.0.0.12]"},
		{"nothing listed", nil, "missing [10.0.0.11 10.0.0.12]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sameIPs("Endpoints default/kubernetes", tc.got, want)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected failure: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}
