package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestVerifyAddonsAreValidatedWithFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []Addon // nil with err: refused
		err        string
	}{
		{"unset keeps the defaults (nil)", "", nil, ""},
		{"an empty list restarts none", "verify:\n  addons: []\n", []Addon{}, ""},
		{"a list replaces the defaults", "verify:\n  addons:\n    - {kind: DaemonSet, namespace: kube-system, name: kube-proxy}\n    - {kind: StatefulSet, namespace: ingress, name: haproxy}\n",
			[]Addon{{"DaemonSet", "kube-system", "kube-proxy"}, {"StatefulSet", "ingress", "haproxy"}}, ""},
		{"a kind rollout restart cannot restart", "verify:\n  addons:\n    - {kind: Pod, namespace: kube-system, name: x}\n", nil,
			`cluster.yaml:7:14: error: verify.addons[0].kind: "Pod" cannot be restarted as ` + "`kubectl rollout restart`" + ` does; use DaemonSet, Deployment, StatefulSet`},
		{"a namespace the API refuses", "verify:\n  addons:\n    - {kind: Deployment, namespace: Kube_System, name: coredns}\n", nil,
			`cluster.yaml:7:37: error: verify.addons[0].namespace: "Kube_System" is not a namespace name`},
		{"a missing name", "verify:\n  addons:\n    - {kind: Deployment, namespace: kube-system}\n", nil,
			`verify.addons[0].name: "" is not a Deployment name`},
		{"an unknown key is refused", "verify:\n  addons:\n    - {kind: Deployment, namespace: kube-system, name: coredns, replicas: 2}\n", nil,
			`replicas`},
		{"a duplicate", "verify:\n  addons:\n    - {kind: Deployment, namespace: kube-system, name: coredns}\n    - {kind: Deployment, namespace: kube-system, name: coredns}\n", nil,
			`cluster.yaml:8:7: error: verify.addons[1]: Deployment kube-system/coredns is listed twice (also verify.addons[0])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := bastion(t, nil, nil)
			file := filepath.Join(dir, "cluster.yaml")
			writeFile(t, file, minimalFile+tc.yaml)
			c, _, err := LoadEnv(file, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if !reflect.DeepEqual(c.Verify.Addons, tc.want) || (tc.want == nil) != (c.Verify.Addons == nil) {
				t.Errorf("addons = %#v, want %#v", c.Verify.Addons, tc.want)
			}
		})
	}
}
