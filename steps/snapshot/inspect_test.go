package snapshot

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestParseRegistryKey(t *testing.T) {
	tests := []struct {
		key, resource, namespace string
		ok                       bool
	}{
		{"/registry/configmaps/kube-system/coredns", "configmaps", "kube-system", true},
		{"/registry/namespaces/default", "namespaces", "", true},
		{"/registry/minions/cp-1", "minions", "", true},
		{"/registry/services/specs/default/kubernetes", "services/specs", "default", true},
		{"/registry/services/endpoints/default/kubernetes", "services/endpoints", "default", true},
		{"/registry/apiregistration.k8s.io/apiservices/v1.apps", "apiregistration.k8s.io/apiservices", "", true},
		{"/registry/cert-manager.io/certificates/web/tls", "cert-manager.io/certificates", "web", true},
		{"/registry/pods", "", "", false},
		{"/registry/", "", "", false},
		{"/other/key", "", "", false},
		{"registry/pods/a/b", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			r, ns, ok := ParseRegistryKey(tt.key)
			if r != tt.resource || ns != tt.namespace || ok != tt.ok {
				t.Errorf("ParseRegistryKey = %q, %q, %v; want %q, %q, %v", r, ns, ok, tt.resource, tt.namespace, tt.ok)
			}
		})
	}
}

func TestInspectCountsTheLiveKubernetesKeyspace(t *testing.T) {
	m := startEtcd(t)
	putKubernetesKeys(t, m, 10) // revisions 2-11: configmaps cm-0..9 in ns-0..4; 12: a namespace; 13: a clusterrolebinding
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, op := range []clientv3.Op{
		clientv3.OpDelete("/registry/configmaps/ns-0/cm-0"),
		clientv3.OpPut("/registry/configmaps/ns-1/cm-1", "updated"),
		clientv3.OpPut("/registry/apiregistration.k8s.io/apiservices/v1.apps", "{}"),
		clientv3.OpPut("compact_rev_key_lookalike", "x"),
	} {
		if _, err := m.cli.Do(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "snap.db")
	if _, err := Save(ctx, clientv3.Config{}, m.endpoint, out); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Keys != 13 || s.Other != 1 || s.Revision != 17 {
		t.Errorf("keys %d other %d revision %d; want 13, 1, 17", s.Keys, s.Other, s.Revision)
	}
	want := map[string]Resource{
		"apiregistration.k8s.io/apiservices": {Keys: 1, NewestModRevision: 16},
		"clusterrolebindings":                {Keys: 1, NewestModRevision: 13},
		"configmaps":                         {Keys: 9, NewestModRevision: 15, Namespaces: map[string]int{"ns-0": 1, "ns-1": 2, "ns-2": 2, "ns-3": 2, "ns-4": 2}},
		"namespaces":                         {Keys: 1, NewestModRevision: 12},
	}
	if len(s.Resources) != len(want) {
		t.Fatalf("resources = %+v", s.Resources)
	}
	for _, r := range s.Resources {
		w := want[r.Name]
		if r.Keys != w.Keys || r.NewestModRevision != w.NewestModRevision || len(r.Namespaces) != len(w.Namespaces) {
			t.Errorf("%s = %+v, want %+v", r.Name, r, w)
		}
		for ns, n := range w.Namespaces {
			if r.Namespaces[ns] != n {
				t.Errorf("%s in %s = %d, want %d", r.Name, ns, r.Namespaces[ns], n)
			}
		}
	}
}

func TestInspectRefusesDamagedFiles(t *testing.T) {
	good, _ := savedSnapshot(t, 10)
	g := readFile(t, good)
	tests := []struct {
		name   string
		data   []byte
		reason error
	}{
		{"truncated", g[:len(g)/2], ErrTruncated},
		{"zeroed pages", func() []byte { b := body(g); clear(b[2*4096:]); return b }(), ErrDamaged},
		{"random bytes", make([]byte, 5000), ErrNotBolt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Inspect(write(t, t.TempDir(), tt.data))
			if !errors.Is(err, tt.reason) {
				t.Fatalf("error = %v, want %v", err, tt.reason)
			}
		})
	}
}
