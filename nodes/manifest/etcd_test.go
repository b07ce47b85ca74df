package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestEtcdMemberFromKubeadmManifest(t *testing.T) {
	p, err := Parse(readTestdata(t, "etcd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := EtcdMemberFrom(p)
	if err != nil {
		t.Fatal(err)
	}
	want := EtcdMember{
		Name: "cp-2", PeerURLs: []string{"https://10.0.0.12:2380"}, ClientURLs: []string{"https://10.0.0.12:2379"},
		ListenClientURLs: []string{"https://127.0.0.1:2379", "https://10.0.0.12:2379"},
		DataDir:          "/var/lib/etcd", HostDataDir: "/var/lib/etcd", DataVolume: "etcd-data",
		InitialCluster:      "cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380",
		InitialClusterState: "existing",
		CertFile:            "/etc/kubernetes/pki/etcd/server.crt", KeyFile: "/etc/kubernetes/pki/etcd/server.key",
		TrustedCAFile: "/etc/kubernetes/pki/etcd/ca.crt", PeerCertFile: "/etc/kubernetes/pki/etcd/peer.crt",
		PeerKeyFile: "/etc/kubernetes/pki/etcd/peer.key", PeerTrustedCAFile: "/etc/kubernetes/pki/etcd/ca.crt",
		ClientCertAuth: true,
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("member =\n%+v\nwant\n%+v", m, want)
	}
}

func TestEtcdMemberHostDataDirFollowsTheVolume(t *testing.T) {
	tests := []struct {
		name             string
		edits            []Change
		wantHost, wantVl string
	}{
		{"after the restore repoints the volume", []Change{SetHostPath("etcd-data", "/var/lib/etcd-restored")}, "/var/lib/etcd-restored", "etcd-data"},
		{"a data dir below the mount", []Change{SetFlag("data-dir", "/var/lib/etcd/member-data")}, "/var/lib/etcd/member-data", "etcd-data"},
		{"a data dir below a repointed mount", []Change{SetFlag("data-dir", "/var/lib/etcd/d"), SetHostPath("etcd-data", "/srv/etcd")}, "/srv/etcd/d", "etcd-data"},
		{"a data dir outside every mount", []Change{SetFlag("data-dir", "/var/lib/etcd2")}, "/var/lib/etcd2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Edit(readTestdata(t, "etcd.yaml"), tt.edits...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			m, err := EtcdMemberFrom(p)
			if err != nil {
				t.Fatal(err)
			}
			if m.HostDataDir != tt.wantHost || m.DataVolume != tt.wantVl {
				t.Errorf("HostDataDir = %q (volume %q), want %q (%q)", m.HostDataDir, m.DataVolume, tt.wantHost, tt.wantVl)
			}
		})
	}
}

func TestEtcdMemberFromRefusesIncompleteManifests(t *testing.T) {
	tests := []struct {
		name  string
		edits []Change
		want  string
	}{
		{"no member name", []Change{SetFlag("name", "")}, "line 13: container \"etcd\": etcd member without --name"},
		{"a peer URL that is not a URL", []Change{SetFlag("initial-advertise-peer-urls", "10.0.0.12:2380")}, `--initial-advertise-peer-urls: "10.0.0.12:2380" is not a URL`},
		{"a broken initial cluster", []Change{SetFlag("initial-cluster", "cp-1=https://10.0.0.11:2380,cp-2")}, `--initial-cluster: initial cluster entry 2 "cp-2"`},
		{"a relative data dir", []Change{SetFlag("data-dir", "default.etcd")}, `--data-dir="default.etcd" is relative`},
		{"client cert auth that is not a boolean", []Change{SetFlag("client-cert-auth", "yes please")}, `--client-cert-auth="yes please": not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := Edit(readTestdata(t, "etcd.yaml"), tt.edits...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := EtcdMemberFrom(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseInitialCluster(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string][]string
		err      string
	}{
		{"three members", "cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380",
			map[string][]string{"cp-1": {"https://10.0.0.11:2380"}, "cp-2": {"https://10.0.0.12:2380"}, "cp-3": {"https://10.0.0.13:2380"}}, ""},
		{"a member with two peer URLs", "a=https://10.0.0.1:2380,a=https://[fd00::1]:2380",
			map[string][]string{"a": {"https://10.0.0.1:2380", "https://[fd00::1]:2380"}}, ""},
		{"spaces around entries", " a = http://127.0.0.1:2380 ", map[string][]string{"a": {"http://127.0.0.1:2380"}}, ""},
		{"empty", "", nil, "initial cluster is empty"},
		{"an entry without a URL", "a", nil, `entry 1 "a"`},
		{"an entry without a name", "=https://x:2380", nil, "entry 1"},
		{"a URL without a scheme", "a=10.0.0.1:2380", nil, "is not a URL"},
		{"a trailing comma", "a=https://x:2380,", nil, "entry 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInitialCluster(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestPointDataDirRepointsTheKubeadmVolume(t *testing.T) {
	tests := []struct {
		name  string
		setup []Change
		want  []string // diff lines; nil when refused
		err   string
	}{
		{"a kubeadm manifest", nil,
			[]string{"-      path: /var/lib/etcd", "+      path: /var/lib/etcd-restored-1"}, ""},
		{"a data dir below the mount", []Change{SetFlag("data-dir", "/var/lib/etcd/d")}, nil,
			`below the mount /var/lib/etcd of volume "etcd-data"`},
		{"a data dir on no volume", []Change{SetFlag("data-dir", "/data/etcd")}, nil,
			"no volume is mounted at --data-dir /data/etcd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := Edit(readTestdata(t, "etcd.yaml"), tt.setup...)
			if err != nil {
				t.Fatal(err)
			}
			after, err := Edit(before, PointDataDir("/var/lib/etcd-restored-1"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := lineDiff(t, before, after); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("diff = %q, want %q", got, tt.want)
			}
			p, _ := Parse(after)
			if m, err := EtcdMemberFrom(p); err != nil || m.HostDataDir != "/var/lib/etcd-restored-1" || m.DataDir != "/var/lib/etcd" {
				t.Errorf("member after = %+v, %v", m, err)
			}
		})
	}
}

func TestHostPathOfMapsContainerPathsToTheNode(t *testing.T) {
	p, err := Parse(readTestdata(t, "kube-apiserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ inPod, host, volume string }{
		{"/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/apiserver.crt", "k8s-certs"},
		{"/etc/kubernetes/pki", "/etc/kubernetes/pki", "k8s-certs"},
		{"/etc/kubernetes/pki-other/x", "/etc/kubernetes/pki-other/x", ""},
		{"/usr/share/ca-certificates/../x", "/usr/share/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.inPod, func(t *testing.T) {
			if h, v := p.HostPathOf(tt.inPod); h != tt.host || v != tt.volume {
				t.Errorf("HostPathOf = %q, %q; want %q, %q", h, v, tt.host, tt.volume)
			}
		})
	}
}

func TestInitialClusterOfRoundTripsThroughParse(t *testing.T) {
	members := []EtcdMember{
		{Name: "cp-3", PeerURLs: []string{"https://10.0.0.13:2380"}},
		{Name: "cp-1", PeerURLs: []string{"https://10.0.0.11:2380", "https://[fd00::11]:2380"}},
		{Name: "cp-2", PeerURLs: []string{"https://10.0.0.12:2380"}},
	}
	got := InitialClusterOf(members)
	want := "cp-1=https://10.0.0.11:2380,cp-1=https://[fd00::11]:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380"
	if got != want {
		t.Fatalf("InitialClusterOf = %q, want %q", got, want)
	}
	parsed, err := ParseInitialCluster(got)
	if err != nil || len(parsed) != 3 || len(parsed["cp-1"]) != 2 {
		t.Errorf("ParseInitialCluster(%q) = %v, %v", got, parsed, err)
	}
	if members[0].Name != "cp-3" {
		t.Error("InitialClusterOf reordered its argument")
	}
}
