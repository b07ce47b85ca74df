package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVersionReportsTheBuildAndItsTargets(t *testing.T) {
	t.Run("json is one document with every field an incident report needs", func(t *testing.T) {
		code, out, errOut := cli(t, "version", "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var v versionInfo
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("version -o json is not one JSON document: %v\n%s", err, out)
		}
		if v.Version == "" || v.Go == "" || v.Platform == "" || v.TargetEtcd == "" || v.TargetKubernetes == "" {
			t.Errorf("missing fields: %+v", v)
		}
	})
	t.Run("--version prints the same version on one line", func(t *testing.T) {
		code, out, _ := cli(t, "--version")
		if code != 0 || !strings.HasPrefix(out, "etcd-dr "+buildVersion().String()) || strings.Count(out, "\n") != 1 {
			t.Errorf("exit %d, %q", code, out)
		}
	})
	t.Run("an unknown output format is a usage error", func(t *testing.T) {
		if code, _, _ := cli(t, "version", "-o", "yaml"); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}
