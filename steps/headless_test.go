package steps

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHeadlessConfirmsWithTheGivenNameAndBacksOutOfFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		confirm string
		ready   bool
		wantErr error
		want    string
		errSays string // what the returned error says happened ("" for no error)
	}{
		{"the right name runs the procedure to the end", "drill-eu1", true, nil, "post-condition verified", ""},
		{"a wrong name keeps the destructive gate shut", "prod-eu1", true, ErrAborted, "does not match",
			`stopped at write: --confirm "prod-eu1" does not match the cluster name "drill-eu1"`},
		{"a failed post-condition backs out, resumable, naming the reason and the console's choices", "drill-eu1", false,
			ErrAborted, "w-1: not ready; a headless run does not choose between retry, re-verify, continue",
			"stopped at ready: ready failed: w-1: not ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if tc.ready {
				r.markReady(t)
			}
			e := r.engine(t, nil)
			var out bytes.Buffer
			done := make(chan struct{})
			go func() { defer close(done); Headless(e, tc.confirm, "ci@runner", &out) }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := e.Run(ctx)
			<-done
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Run = %v, want %v", err, tc.wantErr)
			}
			if err != nil && (!strings.Contains(err.Error(), tc.errSays) || strings.Contains(err.Error(), "by the operator")) {
				t.Errorf("Run = %q; want it to say %q and not blame the operator", err, tc.errSays)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}

func TestTheOperatorIsNamedAsUserAtHost(t *testing.T) {
	if op := Operator(); op == "" || op[0] == '@' || op[len(op)-1] == '@' {
		t.Fatalf("Operator() = %q, want user@host", op)
	}
}
