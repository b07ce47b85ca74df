package config

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDiagnosticStringLeavesOutWhatIsUnknown(t *testing.T) {
	tests := []struct {
		name string
		d    Diagnostic
		want string
	}{
		{"a full position reads file:line:col", Diagnostic{File: "c.yaml", Line: 3, Col: 5, Msg: "m"}, "c.yaml:3:5: error: m"},
		{"a syntax error without a column reads file:line", Diagnostic{File: "c.yaml", Line: 3, Msg: "m"}, "c.yaml:3: error: m"},
		{"no position reads file alone", Diagnostic{File: "c.yaml", Msg: "m"}, "c.yaml: error: m"},
		{"a warning says so", Diagnostic{File: "c.yaml", Line: 1, Col: 1, Severity: SeverityWarning, Msg: "m"}, "c.yaml:1:1: warning: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDiagnosticsMarshalToJSONWithWordsForSeverity(t *testing.T) {
	b, err := json.Marshal([]Diagnostic{
		{File: "c.yaml", Line: 3, Col: 5, Msg: "bad"},
		{File: "c.yaml", Severity: SeverityWarning, Msg: "hmm"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"file":"c.yaml","line":3,"col":5,"severity":"error","message":"bad"},{"file":"c.yaml","severity":"warning","message":"hmm"}]`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
}

func TestErrorsAreSortedByPositionAndSplitFromWarnings(t *testing.T) {
	r := &report{file: "f"}
	r.errorf(pos{9, 1}, "nine")
	r.warnf(pos{2, 1}, "two")
	r.errorf(pos{3, 7}, "three-seven")
	r.errorf(pos{3, 2}, "three-two")
	r.errorf(pos{3, 2}, "three-two again")
	errs, warns := r.split()
	var got []string
	for _, d := range errs {
		got = append(got, d.Msg)
	}
	if strings.Join(got, ",") != "three-two,three-two again,three-seven,nine" {
		t.Errorf("errors in order %v", got)
	}
	if len(warns) != 1 || warns[0].Msg != "two" {
		t.Errorf("warnings %v", warns)
	}
	err := error(&Errors{Diagnostics: errs})
	if want := "f:3:2: error: three-two\nf:3:2: error: three-two again\nf:3:7: error: three-seven\nf:9:1: error: nine"; err.Error() != want {
		t.Errorf("Error() = %q", err.Error())
	}
	var target *Errors
	if !errors.As(err, &target) {
		t.Error("errors.As cannot find *Errors")
	}
}

func TestDidYouMeanSuggestsOnlyLikelyTypos(t *testing.T) {
	keys := []string{"cluster", "snapshot", "ssh", "etcd", "apiserver", "state", "nodes", "identityFiles", "manifestsDir"}
	tests := []struct{ word, want string }{
		{"clustr", "cluster"},
		{"identityfiles", "identityFiles"},
		{"IDENTITYFILES", "identityFiles"},
		{"manifestDir", "manifestsDir"},
		{"node", "nodes"},
		{"foo", ""},
		{"timeout", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.word+" suggests "+tt.want, func(t *testing.T) {
			if got := closest(tt.word, keys); got != tt.want {
				t.Errorf("closest(%q) = %q, want %q", tt.word, got, tt.want)
			}
		})
	}
}

func TestEditDistanceCountsInsertionsDeletionsAndSubstitutions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"etcd", "etdc", 2}, {"same", "same", 0}}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRestoredDirRendersTheTimeInUTC(t *testing.T) {
	at := time.Date(2026, 11, 24, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name, tmpl, want, wantErr string
	}{
		{name: "the default gets a sortable UTC stamp", tmpl: DefaultRestoredDataDir, want: "/var/lib/etcd-restored-20261124T020405Z"},
		{name: "a fixed dir stays as written", tmpl: "/var/lib/etcd-new/", want: "/var/lib/etcd-new"},
		{name: "an unknown field is an error", tmpl: "/x/{{.Node}}", wantErr: "only {{.Time}} is available"},
		{name: "a broken template is an error", tmpl: "/x/{{.Time", wantErr: "unclosed action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Etcd{RestoredDataDir: tt.tmpl}.RestoredDir(at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBumpRevisionAutoTellsAutoFromAFixedBump(t *testing.T) {
	if auto, _ := (Etcd{BumpRevision: "auto"}).BumpRevisionAuto(); !auto {
		t.Error("auto is not auto")
	}
	if auto, n := (Etcd{BumpRevision: "1000000000"}).BumpRevisionAuto(); auto || n != 1e9 {
		t.Errorf("fixed bump read as auto=%v n=%d", auto, n)
	}
}

func TestFormatDurationDropsZeroUnits(t *testing.T) {
	tests := map[time.Duration]string{
		10 * time.Second: "10s", 5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		1500 * time.Millisecond: "1.5s", time.Hour + time.Second: "1h0m1s",
	}
	for d, want := range tests {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestProcessEnvKnowsThisProcess(t *testing.T) {
	env := ProcessEnv()
	if env.LookupEnv == nil || env.Home == "" || env.User == "" {
		t.Errorf("ProcessEnv() = %+v", env)
	}
}
