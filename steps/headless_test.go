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
	}{
		{"the right name runs the procedure to the end", "drill-eu1", true, nil, "post-condition verified"},
		{"a wrong name keeps the destructive gate shut", "prod-eu1", true, ErrAborted, "does not match"},
		{"a failed post-condition backs out, resumable", "drill-eu1", false, ErrAborted, "backing out"},
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
