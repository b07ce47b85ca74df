package steps

import (
	"strings"
	"testing"

	"github.com/etcd-dr/etcd-dr/config"
)

func TestComputeBump(t *testing.T) {
	for _, tc := range []struct {
		name       string
		setting    string
		live, snap int64
		want       int64
		wantErr    bool
	}{
		{"auto adds the gap plus 1000 plus a fifth of the gap", "auto", 51210, 48210, 3000 + 1000 + 600, false},
		{"an unknown live revision falls back to one billion", "auto", 0, 48210, 1_000_000_000, false},
		{"a live revision below the snapshot still gets the margin", "", 100, 200, 1000, false},
		{"a number in the cluster file is used as is", "5000000", 51210, 48210, 5000000, false},
		{"a negative number is refused", "-1", 0, 0, 0, true},
		{"a word other than auto is refused", "lots", 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ComputeBump(tc.setting, tc.live, tc.snap)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ComputeBump(%q, %d, %d) = %d, %v; want %d, error %v", tc.setting, tc.live, tc.snap, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestCheckMembersRefusesInconsistentManifests(t *testing.T) {
	m := func(node, name, peer, ic string) Member {
		return Member{Node: node, Name: name, PeerURLs: []string{peer}, InitialCluster: ic}
	}
	for _, tc := range []struct {
		name    string
		members []Member
		wantErr string
	}{
		{"kubeadm joiners that list only earlier members are consistent", []Member{
			m("cp-1", "a", "https://10.0.0.1:2380", "a=https://10.0.0.1:2380"),
			m("cp-2", "b", "https://10.0.0.2:2380", "a=https://10.0.0.1:2380,b=https://10.0.0.2:2380")}, ""},
		{"two members with one name are refused", []Member{
			m("cp-1", "a", "https://10.0.0.1:2380", "a=https://10.0.0.1:2380"),
			m("cp-2", "a", "https://10.0.0.2:2380", "a=https://10.0.0.2:2380")}, "is used on cp-1 and cp-2"},
		{"a member listed at another peer URL is refused", []Member{
			m("cp-1", "a", "https://10.0.0.1:2380", "a=https://10.0.0.1:2380,b=https://10.9.9.9:2380"),
			m("cp-2", "b", "https://10.0.0.2:2380", "b=https://10.0.0.2:2380")}, "says b is at https://10.9.9.9:2380"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMembers(tc.members)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("CheckMembers = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDesiredEtcdServers(t *testing.T) {
	members := []Member{
		{Node: "cp-1", ClientURLs: []string{"https://10.0.1.21:2379"}, ListenClientURLs: []string{"https://127.0.0.1:2379", "https://10.0.1.21:2379"}},
		{Node: "cp-2", ClientURLs: []string{"https://10.0.1.22:2379"}, ListenClientURLs: []string{"https://127.0.0.1:2379"}},
	}
	for _, tc := range []struct {
		name, setting string
		current       []string
		want          string
	}{
		{"the stacked loopback URL of the node's own member is kept", "", []string{"https://127.0.0.1:2379"}, "https://127.0.0.1:2379"},
		{"current member URLs are kept", "", []string{"https://10.0.1.22:2379"}, "https://10.0.1.22:2379"},
		{"a URL no member serves any more is replaced by every member", "", []string{"https://10.0.0.11:2379"}, "https://10.0.1.21:2379,https://10.0.1.22:2379"},
		{"the cluster file's value wins", "https://etcd.lb:2379", []string{"https://127.0.0.1:2379"}, "https://etcd.lb:2379"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := &config.Cluster{Apiserver: config.Apiserver{EtcdServers: tc.setting}}
			got := DesiredEtcdServers(cl, Apiserver{Node: "cp-1", EtcdServers: tc.current}, members)
			if strings.Join(got, ",") != tc.want {
				t.Errorf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestEtcdutlVersionCheck(t *testing.T) {
	for out, ok := range map[string]bool{
		"etcdutl version: 3.6.5\nAPI version: 3.6\n": true,
		"etcdutl version: 3.5.10\n":                  true,
		"etcdutl version: 3.5.9\n":                   false,
		"etcdutl version: 3.4.30\n":                  false,
		"command not found":                          false,
	} {
		if err := checkEtcdutlVersion(out); (err == nil) != ok {
			t.Errorf("checkEtcdutlVersion(%q) = %v, want ok=%v", out, err, ok)
		}
	}
}

func TestListenersAreParsedFromSSAndScopedToTheStoppedProcess(t *testing.T) {
	out := "LISTEN 0      4096       127.0.0.1:6443       0.0.0.0:*\n" +
		"LISTEN 0 4096 [::]:16443 [::]:*\n" +
		"LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n" +
		"LISTEN 0 4096 10.0.0.12:2379 0.0.0.0:*\n" +
		"LISTEN 0 4096 10.0.0.11:2379 0.0.0.0:*\n" +
		"LISTEN 0 4096 *:10250 *:*\n" +
		"LISTEN 0 4096 [fd00::11]:2379 [::]:*\n"
	for _, tc := range []struct {
		name  string
		port  int
		hosts []string
		want  string
	}{
		{"a listener on the configured address counts", 6443, []string{"127.0.0.1"}, "127.0.0.1:6443"},
		{"with no configured address every listener on the port counts", 2379, nil, "10.0.0.12:2379 10.0.0.11:2379 [fd00::11]:2379"},
		{"another member's address on the same port is not this node's process", 2379, []string{"10.0.0.11"}, "10.0.0.11:2379"},
		{"IPv6 addresses match without brackets", 2379, []string{"fd00::11"}, "[fd00::11]:2379"},
		{"a wildcard bind always counts", 10250, []string{"10.0.0.11"}, "*:10250"},
		{"a port that only ends in the same digits does not match", 443, nil, ""},
		{"nothing on the port", 2380, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(listenersOn(out, tc.port, tc.hosts), " "); got != tc.want {
				t.Errorf("listenersOn(:%d, %v) = %q, want %q", tc.port, tc.hosts, got, tc.want)
			}
		})
	}
}

func TestRenderDataDir(t *testing.T) {
	if _, err := RenderDataDir("relative/{{.Time}}", startOfDrill); err == nil {
		t.Error("a relative data dir was accepted")
	}
	if _, err := RenderDataDir("/x/{{.Nope}}", startOfDrill); err == nil {
		t.Error("an unknown template field was accepted")
	}
	if got, _ := RenderDataDir("", startOfDrill); got != "/var/lib/etcd-restored-20261124T030000Z" {
		t.Errorf("default data dir %s", got)
	}
}
