package main

import (
	"os"
	"testing"
)

// asCLI makes a re-executed test binary behave as etcd-dr itself: `lab up`
// and `drill` start the lab daemon by re-executing os.Executable(), which
// under `go test` is this test binary.
const asCLI = "ETCD_DR_TEST_BINARY_IS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv(asCLI, "1") // inherited by the re-executed children only
	os.Exit(m.Run())
}
