package lab

import (
	"fmt"
	"strings"
	"testing"
)

// The worker cap must admit the 100-worker scale benchmark and keep every
// worker address inside 127.B.20.1–254, distinct from the other roles.
func TestOptionsAdmitUpToMaxWorkersWithDistinctAddresses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		ok      bool
	}{
		{"no workers is allowed", 0, true},
		{"a hundred workers are allowed", 100, true},
		{"MaxWorkers workers are allowed", MaxWorkers, true},
		{"one more than MaxWorkers is refused", MaxWorkers + 1, false},
		{"a negative count is refused", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), Workers: tc.workers, Block: 140}
			err := o.defaults()
			if (err == nil) != tc.ok {
				t.Fatalf("defaults() with %d workers: err = %v, want ok=%v", tc.workers, err, tc.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), fmt.Sprintf("0–%d workers", MaxWorkers)) {
					t.Errorf("error %q does not say the allowed range", err)
				}
				return
			}
			seen := map[string]string{}
			for _, s := range o.specs() {
				if prev, dup := seen[s.Addr]; dup {
					t.Fatalf("%s and %s share %s", prev, s.Name, s.Addr)
				}
				seen[s.Addr] = s.Name
				var a, b, c, d int
				if _, err := fmt.Sscanf(s.Addr, "%d.%d.%d.%d", &a, &b, &c, &d); err != nil || d < 1 || d > 254 {
					t.Fatalf("%s has address %q, want 127.140.x.1–254", s.Name, s.Addr)
				}
			}
			if len(seen) != o.ControlPlanes+tc.workers {
				t.Errorf("%d addresses for %d control planes and %d workers", len(seen), o.ControlPlanes, tc.workers)
			}
		})
	}
}
