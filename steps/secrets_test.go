package steps

import (
	"strings"
	"testing"
)

func TestSecretsInNodeOutputAreRedactedAndIdentifiersAreKept(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string // lines of one command's output
		want []string
	}{
		{"a --token flag in a manifest",
			[]string{"    - --token=s3cr3t", "    - --bootstrap-token 'abc def'"},
			[]string{"    - --token=<redacted>", "    - --bootstrap-token <redacted>"}},
		{"a quoted annotation holding a flag",
			[]string{`    lab/bootstrap: '--token=s3cr3t'`},
			[]string{`    lab/bootstrap: '--token=<redacted>'`}},
		{"a YAML env whose name says password",
			[]string{"    env:", "    - name: ETCD_PASSWORD", "      value: 's3cr3t'", "    - name: LOG_LEVEL", "      value: debug"},
			[]string{"    env:", "    - name: ETCD_PASSWORD", "      value: <redacted>", "    - name: LOG_LEVEL", "      value: debug"}},
		{"an env file assignment",
			[]string{"ETCD_PASSWORD=s3cr3t", "ETCD_INITIAL_CLUSTER_TOKEN=etcd-dr-20261124", "ETCD_NAME=cp-1"},
			[]string{"ETCD_PASSWORD=<redacted>", "ETCD_INITIAL_CLUSTER_TOKEN=etcd-dr-20261124", "ETCD_NAME=cp-1"}},
		{"a private key block",
			[]string{"-----BEGIN EC PRIVATE KEY-----", "MHcCAQEEIB", "-----END EC PRIVATE KEY-----", "after"},
			[]string{"<redacted private key>", "<redacted>", "<redacted>", "after"}},
		{"a bearer token in a header",
			[]string{"Authorization: Bearer abc.def-123"},
			[]string{"Authorization: Bearer <redacted>"}},
		{"paths and the new cluster token stay readable",
			[]string{"    - --token-auth-file=/etc/kubernetes/tokens.csv", "    - --initial-cluster-token=etcd-dr-20261124", "    - --service-account-key-file=/etc/sa.pub"},
			[]string{"    - --token-auth-file=/etc/kubernetes/tokens.csv", "    - --initial-cluster-token=etcd-dr-20261124", "    - --service-account-key-file=/etc/sa.pub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s scrubber
			var got []string
			for _, l := range tc.in {
				got = append(got, s.line(l))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
