package steps

import (
	"fmt"
	"strings"
	"testing"
)

// secretCase is one format a secret reaches a node's output in: every
// string in secrets must vanish, every string in keep must stay.
type secretCase struct {
	name    string
	in      string
	secrets []string
	keep    []string
}

// secretCorpus is the formats the scrubber must know: Kubernetes manifests,
// kubeconfigs, env files, JSON, cloud keys, URLs and keys in errors.
var secretCorpus = []secretCase{
	{"a --token flag in a manifest", "    - --token=s3cr3tA", []string{"s3cr3tA"}, []string{"--token="}},
	{"a --bootstrap-token flag with a quoted value", "    - --bootstrap-token 'abc defB'", []string{"abc defB"}, []string{"--bootstrap-token"}},
	{"a --password flag with a space", "etcdctl --password hunter2C get /", []string{"hunter2C"}, []string{"get /"}},
	{"an --oidc-client-secret flag", "    - --oidc-client-secret=oidcD", []string{"oidcD"}, []string{"--oidc-client-secret="}},
	{"an oidc-client-secret YAML key", "oidc-client-secret: oidcE", []string{"oidcE"}, []string{"oidc-client-secret:"}},
	{"a quoted annotation holding a flag", `    lab/bootstrap: '--token=s3cr3tF'`, []string{"s3cr3tF"}, []string{"lab/bootstrap"}},
	{"a YAML env whose name says password", "    env:\n    - name: ETCD_PASSWORD\n      value: 's3cr3tG'\n    - name: LOG_LEVEL\n      value: debug",
		[]string{"s3cr3tG"}, []string{"ETCD_PASSWORD", "debug"}},
	{"a YAML env whose value comes before its name", "    env:\n    - value: s3cr3tH\n      name: API_TOKEN\n    - value: info\n      name: LOG_LEVEL",
		[]string{"s3cr3tH"}, []string{"API_TOKEN", "info", "LOG_LEVEL"}},
	{"a YAML env whose value is a block scalar", "    - name: DB_PASSWORD\n      value: |\n        lineoneI\n        linetwoI\n    - name: NEXT\n      value: shownI",
		[]string{"lineoneI", "linetwoI"}, []string{"DB_PASSWORD", "NEXT", "shownI"}},
	{"a block scalar value before its secret name", "    - value: |\n        blockJ\n      name: X_TOKEN\n    image: etcd",
		[]string{"blockJ"}, []string{"X_TOKEN", "image: etcd"}},
	{"a flow-style env entry", "env: [{name: X_PASSWORD, value: flowK}, {name: MODE, value: fast}]", []string{"flowK"}, []string{"X_PASSWORD", "fast"}},
	{"a flow-style env entry with the value first", "- {value: flowL, name: X_TOKEN}", []string{"flowL"}, []string{"X_TOKEN"}},
	{"a JSON env list", `"env":[{"name":"ETCD_PASSWORD","value":"jsonM"},{"name":"A","value":"b"}]`, []string{"jsonM"}, []string{"ETCD_PASSWORD", `"value":"b"`}},
	{"a YAML password key", "  password: yamlN", []string{"yamlN"}, []string{"password:"}},
	{"a password key with a block scalar", "password: |-\n  blockO\n  blockO2\nuser: admin", []string{"blockO", "blockO2"}, []string{"user: admin"}},
	{"an EncryptionConfiguration secret", "    - aescbc:\n        keys:\n        - name: key1\n          secret: c2VjcmV0IGlzIHNlY3VyZQP=", []string{"c2VjcmV0IGlzIHNlY3VyZQP="}, []string{"name: key1"}},
	{"an EncryptionConfiguration as the lab and kubeadm docs lay it out, every provider",
		"resources:\n  - resources:\n      - secrets\n    providers:\n      - aescbc:\n          keys:\n            - name: lab-key-1\n              secret: QUVTQ0JDa2V5b25lMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA==\n" +
			"      - secretbox:\n          keys:\n            - secret: U0VDUkVUQk9Ya2V5dHdvMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMg==\n              name: box-2\n      - aesgcm:\n          keys:\n          - {name: gcm-3, secret: R0NNa2V5dGhyZWUxMjM0NTY3ODkwMTIzNA==}\n      - identity: {}",
		[]string{"QUVTQ0JDa2V5b25lMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA==", "U0VDUkVUQk9Ya2V5dHdvMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMg==", "R0NNa2V5dGhyZWUxMjM0NTY3ODkwMTIzNA=="},
		[]string{"name: lab-key-1", "name: box-2", "gcm-3", "identity"}},
	{"an EncryptionConfiguration as JSON", `{"kind":"EncryptionConfiguration","resources":[{"providers":[{"aescbc":{"keys":[{"name":"k1","secret":"SkNPTmtleTEyMzQ1Njc4OTA="}]}}]}]}`,
		[]string{"SkNPTmtleTEyMzQ1Njc4OTA="}, []string{`"name":"k1"`}},
	{"a kubeconfig's client key and token, its certificate kept",
		"users:\n- name: admin\n  user:\n    client-certificate-data: LS0tCERTQ\n    client-key-data: LS0tKEYQ\n    token: tokQ",
		[]string{"LS0tKEYQ", "tokQ"}, []string{"LS0tCERTQ", "client-key-data:", "token:"}},
	{"kubeadm's admin.conf, as the verify step reads it: CA and certificate kept, key redacted",
		"apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tCACERTa\n    server: https://10.0.0.11:6443\n  name: kubernetes\n" +
			"users:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: LS0tADMCERTa\n    client-key-data: LS0tADMKEYa\n",
		[]string{"LS0tADMKEYa"}, []string{"LS0tCACERTa", "LS0tADMCERTa", "server: https://10.0.0.11:6443", "client-key-data:"}},
	{"an admin.conf with a bearer token and a token file", "users:\n- name: lab-admin\n  user:\n    token: labTOKb\n    tokenFile: /etc/kubernetes/tok",
		[]string{"labTOKb"}, []string{"tokenFile: /etc/kubernetes/tok"}},
	{"a kubeconfig as JSON", `{"users":[{"name":"admin","user":{"client-key-data":"LS0tJSONKEYc","token":"jsonTOKc"}}]}`,
		[]string{"LS0tJSONKEYc", "jsonTOKc"}, []string{`"name":"admin"`}},
	{"a kubeconfig's auth-provider id and refresh tokens", "        id-token: eyR\n        refresh-token: refR\n        client-secret: csR",
		[]string{"eyR", "refR", "csR"}, []string{"id-token:"}},
	{"a Secret's data key", "data:\n  tls.key: LS0tTLSS\n  tls.crt: LS0tCRTS", []string{"LS0tTLSS"}, []string{"LS0tCRTS"}},
	{"a JSON password field", `{"user":"admin","password":"jsonT"}`, []string{"jsonT"}, []string{`"user":"admin"`}},
	{"a dockerconfigjson auth", `{"auths":{"registry.example":{"auth":"dXNlcjpwYXNzU="}}}`, []string{"dXNlcjpwYXNzU="}, []string{"registry.example"}},
	{"an env file assignment", "ETCD_PASSWORD=s3cr3tV\nETCD_INITIAL_CLUSTER_TOKEN=etcd-dr-20261124\nETCD_NAME=cp-1",
		[]string{"s3cr3tV"}, []string{"ETCD_INITIAL_CLUSTER_TOKEN=etcd-dr-20261124", "ETCD_NAME=cp-1"}},
	{"an exported shell variable", "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYW", []string{"wJalrXUtnFEMI"}, []string{"AWS_SECRET_ACCESS_KEY"}},
	{"an AWS credentials file", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLX\naws_secret_access_key = wJalrXUtnFEMIX",
		[]string{"AKIAIOSFODNN7EXAMPLX", "wJalrXUtnFEMIX"}, []string{"[default]"}},
	{"an AWS access key id on its own", "using key AKIAIOSFODNN7EXAMPLY for s3", []string{"AKIAIOSFODNN7EXAMPLY"}, []string{"for s3"}},
	{"a URL with a password", "dial https://admin:pwZ@10.0.0.1:2379/v3: refused", []string{"pwZ"}, []string{"https://admin:", "@10.0.0.1:2379"}},
	{"a bearer token in a header", "Authorization: Bearer abc.def-a1", []string{"abc.def-a1"}, []string{"Authorization: Bearer"}},
	{"a basic credential in a header", "Authorization: Basic dXNlcjpwYXNzb2=", []string{"dXNlcjpwYXNzb2="}, []string{"Authorization"}},
	{"a service account token on its own", "got eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.sigb3 back", []string{"eyJzdWIiOiJzeXN0ZW0ifQ"}, []string{"got", "back"}},
	{"a private key block", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBc4\nAwEHoUQDQgc4\n-----END EC PRIVATE KEY-----\nafter",
		[]string{"MHcCAQEEIBc4", "AwEHoUQDQgc4"}, []string{"after"}},
	{"a private key in an error string", "restore cp-1: exit 1: cat: -----BEGIN PRIVATE KEY-----\nMIIEvQd5\n-----END PRIVATE KEY-----\n: done",
		[]string{"MIIEvQd5"}, []string{"restore cp-1: exit 1: cat:", ": done"}},
	{"a private key in JSON on one line", `{"private_key":"-----BEGIN PRIVATE KEY-----\nMIIEve6\n-----END PRIVATE KEY-----\n","type":"service_account"}`,
		[]string{"MIIEve6"}, []string{"service_account"}},
	{"an etcdctl user:password", "etcdctl --user root:rootpwf7 member list", []string{"rootpwf7"}, []string{"--user root:", "member list"}},
	{"a GitHub token", "git clone https://x@github.com ghp_abcdefghijklmnopqrstuvwxyz0123456789", []string{"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}, []string{"git clone"}},
	{"kubectl describe's env listing", "    Environment:\n      ETCD_PASSWORD:  describeG", []string{"describeG"}, []string{"ETCD_PASSWORD:"}},
	{"paths and the new cluster token stay readable",
		"    - --token-auth-file=/etc/kubernetes/tokens.csv\n    - --initial-cluster-token=etcd-dr-20261124\n    - --service-account-key-file=/etc/sa.pub\n    - --enable-bootstrap-token-auth=true\n    secretName: etcd-certs",
		nil, []string{"/etc/kubernetes/tokens.csv", "etcd-dr-20261124", "/etc/sa.pub", "--enable-bootstrap-token-auth=true", "secretName: etcd-certs"}},
	{"URLs without a password stay readable", "    - --etcd-servers=https://127.0.0.1:2379,https://10.0.0.1:2379",
		nil, []string{"--etcd-servers=https://127.0.0.1:2379,https://10.0.0.1:2379"}},
	{"ordinary log lines stay as they are", `{"level":"info","msg":"applied entries","index":42}` + "\nerror: etcdserver: request timed out",
		nil, []string{`{"level":"info","msg":"applied entries","index":42}`, "error: etcdserver: request timed out"}},
}

func TestEverySecretFormatIsRedactedAndWhatTheOperatorNeedsIsKept(t *testing.T) {
	if len(secretCorpus) < 30 {
		t.Fatalf("the corpus holds %d formats, want at least 30", len(secretCorpus))
	}
	for _, tc := range secretCorpus {
		t.Run(tc.name, func(t *testing.T) {
			for via, got := range map[string]string{"as a stream of lines": scrubLines(tc.in), "as one error string": Scrub(tc.in)} {
				for _, s := range tc.secrets {
					if strings.Contains(got, s) {
						t.Errorf("%s: %q is shown:\n%s", via, s, got)
					}
				}
				for _, k := range tc.keep {
					if !strings.Contains(got, k) {
						t.Errorf("%s: %q is lost:\n%s", via, k, got)
					}
				}
				if n, want := strings.Count(got, "\n"), strings.Count(tc.in, "\n"); n != want {
					t.Errorf("%s: %d lines out for %d in:\n%s", via, n+1, want+1, got)
				}
			}
		})
	}
}

// scrubLines feeds text to a scrubber line by line, as node output arrives.
func scrubLines(text string) string {
	var s scrubber
	var out []string
	for _, l := range strings.Split(text, "\n") {
		out = s.push(l, out)
	}
	return strings.Join(s.flush(out), "\n")
}

func TestRedactionKeepsTheShapeOfTheLine(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a flag keeps its name", "    - --token=s3cr3t", "    - --token=<redacted>"},
		{"a YAML env keeps its key", "    - name: ETCD_PASSWORD\n      value: 's3cr3t'", "    - name: ETCD_PASSWORD\n      value: <redacted>"},
		{"a block scalar keeps its indentation", "  password: |\n    a\n    b\n  user: x", "  password: |\n    <redacted>\n    <redacted>\n  user: x"},
		{"a URL keeps its user and host", "https://admin:pw@host/x", "https://admin:<redacted>@host/x"},
		{"a private key is named as such", "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----", "<redacted private key>\n<redacted>\n<redacted>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scrubLines(tc.in); got != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// BenchmarkScrubFlood is the log flood the console is built for (50 nodes ×
// 1000 lines/s) through the scrubber: ordinary lines must cost next to
// nothing, so redaction never becomes the reason lines are dropped.
func BenchmarkScrubFlood(b *testing.B) {
	lines := make([]string, 1000)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"level":"info","ts":"2026-12-02T15:00:00.%06dZ","msg":"applied entries","index":%d}`, i, i)
		if i%50 == 7 {
			lines[i] = "    - --service-account-key-file=/etc/kubernetes/pki/sa.pub"
		}
	}
	var s scrubber
	var out []string
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			out = s.push(l, out[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}
