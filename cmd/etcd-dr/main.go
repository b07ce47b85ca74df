// Command etcd-dr walks an operator through restoring a Kubernetes cluster's
// etcd from a snapshot, in the one order that does not corrupt it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/etcd-dr/etcd-dr/steps"
)

// Exit codes, documented in the README.
const (
	exitOK     = 0
	exitFailed = 1 // procedure failed or aborted, a check did not pass
	exitUsage  = 2 // usage or config error
)

// exitError carries an exit code up to main with the message to print.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func failErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitFailed, err: err}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the CLI and returns the process exit code; tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "etcd-dr: %s\n", steps.Clean(ee.err.Error()))
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag, bad arguments.
	fmt.Fprintf(stderr, "etcd-dr: %s\n", steps.Clean(err.Error()))
	return exitUsage
}
