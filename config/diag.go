package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Severity tells a problem that stops the load from advice.
type Severity int

const (
	// SeverityError: the file cannot be used; Load returns no Cluster.
	SeverityError Severity = iota
	// SeverityWarning: the file is usable but something in it deserves a second look.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// MarshalText makes a severity read "error" or "warning" in JSON output
// (etcd-dr check -o json).
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one problem found in the cluster file, with its position.
// Line and Col are 1-based; 0 means unknown (only for YAML syntax errors the
// parser reports without a column, and for files that could not be read).
type Diagnostic struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Col      int      `json:"col,omitempty"`
	Severity Severity `json:"severity"`
	Msg      string   `json:"message"`
}

// String renders "file:line:col: severity: msg", the form editors and
// terminals recognise as a link to the position. Unknown parts are left out.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.File)
	if d.Line > 0 {
		b.WriteString(":" + strconv.Itoa(d.Line))
		if d.Col > 0 {
			b.WriteString(":" + strconv.Itoa(d.Col))
		}
	}
	fmt.Fprintf(&b, ": %s: %s", d.Severity, d.Msg)
	return b.String()
}

// Errors is every error found in one cluster file. Its Error() is one
// diagnostic per line, sorted by position, so the CLI prints it as is and the
// operator fixes all problems in one pass instead of one per run.
type Errors struct {
	Diagnostics []Diagnostic
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// pos is a position in the file.
type pos struct{ line, col int }

// report collects diagnostics while the file is decoded and validated.
type report struct {
	file  string
	diags []Diagnostic
}

func (r *report) errorf(p pos, format string, args ...any) {
	r.add(p, SeverityError, fmt.Sprintf(format, args...))
}

func (r *report) warnf(p pos, format string, args ...any) {
	r.add(p, SeverityWarning, fmt.Sprintf(format, args...))
}

func (r *report) add(p pos, s Severity, msg string) {
	r.diags = append(r.diags, Diagnostic{File: r.file, Line: p.line, Col: p.col, Severity: s, Msg: msg})
}

// split returns errors and warnings, each sorted by position (stable, so two
// messages about one spot keep the order the checks found them in).
func (r *report) split() (errs, warns []Diagnostic) {
	sorted := append([]Diagnostic(nil), r.diags...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Line != sorted[j].Line {
			return sorted[i].Line < sorted[j].Line
		}
		return sorted[i].Col < sorted[j].Col
	})
	for _, d := range sorted {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		} else {
			warns = append(warns, d)
		}
	}
	return errs, warns
}
