package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestAReadinessOverrideMustNameAKnownOverridableCheck(t *testing.T) {
	for _, tc := range []struct {
		name, override, err string
	}{
		{"known checks load", "[encryption-at-rest, automation]", ""},
		{"a typo is refused with the list", "[encryption]", `readiness.override: "encryption" is not a readiness check; use one of encryption-at-rest, ca-era`},
		{"etcd-versions cannot be overridden", "[etcd-versions]", `"etcd-versions" is not a readiness check`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := bastion(t, nil, nil)
			file := filepath.Join(dir, "cluster.yaml")
			writeFile(t, file, minimalFile+"readiness:\n  override: "+tc.override+"\n")
			c, _, err := LoadEnv(file, env)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("load: %v", err)
				}
				if !slices.Contains(c.Readiness.Override, "automation") {
					t.Errorf("override = %v", c.Readiness.Override)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "cluster.yaml:") {
				t.Errorf("err = %v, want file:line and %q", err, tc.err)
			}
		})
	}
}
