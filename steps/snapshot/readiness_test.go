package snapshot

import (
	"strings"
	"testing"
)

func TestTheEncryptionKeyIsReadFromTheApiserversPrefix(t *testing.T) {
	for _, tc := range []struct {
		name, value, provider, key string
		ok                         bool
	}{
		{"an aescbc value names its provider and key", "k8s:enc:aescbc:v1:lab-key-1:\x8a\x01binary", "aescbc", "lab-key-1", true},
		{"a secretbox value", "k8s:enc:secretbox:v1:box:nonce", "secretbox", "box", true},
		{"a KMS v2 value names its provider", "k8s:enc:kms:v2:vault-kms:\x0a\x12", "kms", "vault-kms", true},
		{"a protobuf value is not encrypted", "k8s\x00\x0a\x0b\x0a\x02v1\x12\x06Secret", "", "", false},
		{"a JSON value is not encrypted", `{"kind":"Secret"}`, "", "", false},
		{"a prefix without a key name is refused", "k8s:enc:aescbc:v1::data", "", "", false},
		{"a truncated prefix is refused", "k8s:enc:aescbc", "", "", false},
		{"a version that is not vN is refused", "k8s:enc:aescbc:x1:key:data", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, k, ok := EncryptionKey([]byte(tc.value))
			if p != tc.provider || k != tc.key || ok != tc.ok {
				t.Errorf("EncryptionKey(%q) = %q, %q, %t; want %q, %q, %t", tc.value, p, k, ok, tc.provider, tc.key, tc.ok)
			}
		})
	}
}

func TestAutomationThatManagesMachinesIsNamedFromItsKeys(t *testing.T) {
	for _, tc := range []struct{ key, product string }{
		{"/registry/cluster.x-k8s.io/machines/default/cp-1", "Cluster API"},
		{"/registry/controlplane.cluster.x-k8s.io/kubeadmcontrolplanes/default/cp", "Cluster API"},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/machines.cluster.x-k8s.io", "Cluster API"},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/etcdadmclusters.etcdcluster.cluster.x-k8s.io", "etcdadm (Cluster API etcd provider)"},
		{"/registry/management.cattle.io/clusters/local", "Rancher"},
		{"/registry/druid.gardener.cloud/etcds/shoot--a/etcd-main", "Gardener etcd-druid"},
		{"/registry/core.gardener.cloud/shoots/garden-a/b", "Gardener"},
		{"/registry/machine.openshift.io/machines/openshift-machine-api/m", "OpenShift Machine API"},
		{"/registry/configmaps/kube-system/cluster.x-k8s.io", ""},
		{"/registry/apps/deployments/default/web", ""},
		{"/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com", ""},
		{"/lab/seed", ""},
	} {
		if got, _ := AutomationOf(tc.key); got != tc.product {
			t.Errorf("AutomationOf(%q) = %q, want %q", tc.key, got, tc.product)
		}
	}
}

const testCA = `-----BEGIN CERTIFICATE-----
MIIBdzCCAR2gAwIBAgIBATAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwprdWJlcm5l
dGVzMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFTETMBEGA1UEAxMK
a3ViZXJuZXRlczBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBJx3Hn8a5WqQ6Xk
0tC8lSuyS6iM8p8DbPaKkYO1M2zUuRZK9G1bmtbJ3OOKw2VIUpCkbiwQvNdqyQdv
cZsR9aejWDBWMA4GA1UdDwEB/wQEAwICpDAPBgNVHRMBAf8EBTADAQH/MB0GA1Ud
DgQWBBQmQ4Zb0H6fTqk+dd2B3l2E+8W9QTAUBgNVHREEDTALggdrdWJlY2EtMTAK
BggqhkjOPQQDAgNIADBFAiEA2gY1mN2Xo4o1m4m8uF3xEJ2bY0q8wQd1d8Q2xZ9r
XxQCIFxQz9QG8m2i8uV5rKkGX+W6xj8ZQ2bA6d3Jc1o5zJ7y
-----END CERTIFICATE-----
`

func TestReadinessFactsCountKeysRootCAsAndAutomationPerLiveKey(t *testing.T) {
	proto := []byte("k8s\x00\x0a\x0f\x0a\x02v1\x12\tConfigMap" + "\x12\xff" + testCA)
	json := []byte(`{"kind":"ConfigMap","data":{"ca.crt":"` + strings.ReplaceAll(testCA, "\n", `\n`) + `"}}`)
	facts := map[string]fact{}
	for k, v := range map[string][]byte{
		"/registry/secrets/seed-1/a":                    []byte("k8s:enc:aescbc:v1:key1:xx"),
		"/registry/secrets/seed-1/b":                    []byte("k8s:enc:aescbc:v1:key1:yy"),
		"/registry/secrets/kube-system/c":               []byte("k8s\x00plain"),
		"/registry/configmaps/seed-1/kube-root-ca.crt":  proto,
		"/registry/configmaps/seed-2/kube-root-ca.crt":  json,
		"/registry/configmaps/seed-3/kube-root-ca.crt":  []byte("k8s:enc:aescbc:v1:key1:zz"),
		"/registry/cluster.x-k8s.io/machines/default/m": []byte("k8s\x00"),
		"/lab/seed": []byte("raw"),
	} {
		if f, ok := factOf(k, v); ok {
			facts[k] = f
		}
	}
	r := summariseReadiness(facts)
	if got := r.Encrypted["aescbc:key1"]; got["secrets"] != 2 || got["configmaps"] != 1 {
		t.Errorf("encrypted = %v, want 2 secrets and 1 configmap under aescbc:key1", r.Encrypted)
	}
	if r.Plain["secrets"] != 1 {
		t.Errorf("plain = %v, want the one unencrypted Secret counted", r.Plain)
	}
	if len(r.RootCAs) != 2 || r.RootCAs["encrypted"] != 1 {
		t.Fatalf("rootCAs = %v, want one fingerprint seen twice (protobuf and JSON) and one encrypted", r.RootCAs)
	}
	for fp, n := range r.RootCAs {
		if fp != "encrypted" && (n != 2 || len(fp) != 95) {
			t.Errorf("rootCAs[%s] = %d, want 2 ConfigMaps under one SHA-256 fingerprint", fp, n)
		}
	}
	if r.Automation["Cluster API"]["machines.cluster.x-k8s.io"] != 1 {
		t.Errorf("automation = %v, want one Cluster API machine", r.Automation)
	}
}
