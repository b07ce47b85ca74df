package manifest

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseEtcdEnvReadsKubesprayFile(t *testing.T) {
	m, err := ParseEtcdEnv(readTestdata(t, "etcd.env"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "etcd1" || m.DataDir != "/var/lib/etcd" || m.HostDataDir != "/var/lib/etcd" ||
		m.InitialClusterToken != "k8s_etcd" || !m.ClientCertAuth ||
		fmt.Sprint(m.PeerURLs) != "[https://10.0.0.11:2380]" ||
		fmt.Sprint(m.ListenClientURLs) != "[https://10.0.0.11:2379 https://127.0.0.1:2379]" || m.CertFile != "/etc/ssl/etcd/ssl/member-node1.pem" {
		t.Errorf("member = %+v", m)
	}
	ic, err := ParseInitialCluster(m.InitialCluster)
	if err != nil || len(ic) != 3 {
		t.Errorf("initial cluster %v, %v", ic, err)
	}
}

func TestParseEtcdEnvReadsSystemdQuoting(t *testing.T) {
	const env = "ETCD_NAME='etcd 1'\n" +
		"  ETCD_DATA_DIR = \"/var/lib/my \\\"etcd\\\"\"  \r\n" +
		"; a comment\n" +
		"ETCD_ADVERTISE_CLIENT_URLS=https://10.0.0.11:2379\n" +
		"ETCD_INITIAL_ADVERTISE_PEER_URLS=https://10.0.0.11:2380\n" +
		"ETCD_CLIENT_CERT_AUTH=false\n" +
		"ETCD_NAME=$(reboot)\n"
	m, err := ParseEtcdEnv([]byte(env))
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "$(reboot)" || m.DataDir != `/var/lib/my "etcd"` || m.ClientCertAuth {
		t.Errorf("member = %+v", m)
	}
}

func TestParseEtcdEnvRefusesWhatItCouldMisread(t *testing.T) {
	tests := []struct{ name, env, want string }{
		{"a line continuation", "ETCD_NAME=a\\\n", `line 1: ETCD_NAME: backslash`},
		{"an unclosed quote", "X=1\nETCD_NAME=\"a\n", "line 2: ETCD_NAME: double quote not closed"},
		{"text after a quote", "ETCD_NAME='a'b\n", "line 1: ETCD_NAME: single quote not closed"},
		{"a line that is not an assignment", "export ETCD_NAME\n", `line 1: "export ETCD_NAME" is not KEY=VALUE`},
		{"a missing data dir", "ETCD_NAME=a\nETCD_ADVERTISE_CLIENT_URLS=https://a:2379\nETCD_INITIAL_ADVERTISE_PEER_URLS=https://a:2380\n", "without ETCD_DATA_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseEtcdEnv([]byte(tt.env)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestEditEtcdEnvChangesOnlyTheLine(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             []string
	}{
		{"the data dir", "ETCD_DATA_DIR", "/var/lib/etcd-restored-1",
			[]string{"-ETCD_DATA_DIR=/var/lib/etcd", "+ETCD_DATA_DIR=/var/lib/etcd-restored-1"}},
		{"a new token", "ETCD_INITIAL_CLUSTER_TOKEN", "etcd-dr-1",
			[]string{"-ETCD_INITIAL_CLUSTER_TOKEN=k8s_etcd", "+ETCD_INITIAL_CLUSTER_TOKEN=etcd-dr-1"}},
		{"an absent key is appended", "ETCD_FORCE_NEW_CLUSTER", "false", []string{"+ETCD_FORCE_NEW_CLUSTER=false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := readTestdata(t, "etcd.env")
			after, err := EditEtcdEnv(before, tt.key, tt.value)
			if err != nil {
				t.Fatal(err)
			}
			if got := lineDiff(t, before, after); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("diff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEditEtcdEnvRewritesEveryCopyAndKeepsCRLF(t *testing.T) {
	before := "ETCD_DATA_DIR=/a\r\n#ETCD_DATA_DIR=/commented\r\nETCD_DATA_DIR = /b\r\nOTHER=1"
	after, err := EditEtcdEnv([]byte(before), "ETCD_DATA_DIR", "/c")
	if err != nil {
		t.Fatal(err)
	}
	want := "ETCD_DATA_DIR=/c\r\n#ETCD_DATA_DIR=/commented\r\nETCD_DATA_DIR=/c\r\nOTHER=1"
	if string(after) != want {
		t.Errorf("got %q, want %q", after, want)
	}
}

func TestEditEtcdEnvRefusesValuesItCannotWritePlainly(t *testing.T) {
	for _, v := range []string{`a"b`, "it's", `a\b`, "$(reboot)", "`id`", "a\nETCD_NAME=evil", " lead", "trail ", "\x00"} {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			before := readTestdata(t, "etcd.env")
			if out, err := EditEtcdEnv(before, "ETCD_DATA_DIR", v); err == nil {
				t.Fatalf("accepted, wrote:\n%s", out)
			}
		})
	}
	if _, err := EditEtcdEnv(nil, "ETCD DATA", "x"); err == nil {
		t.Error("a key with a space was accepted")
	}
}
