package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// --etcd-user is the User= of a systemd unit: refused where there is no
// unit (static pods run etcd as root), for root itself and for a name no
// useradd accepts; accepted, its uid is one the machine's passwd and group
// files do not use, as useradd --system would pick.
func TestEtcdUserIsASystemdUnitsSystemUser(t *testing.T) {
	for _, tc := range []struct {
		name, mode, user, wantErr string
	}{
		{"a static-pod lab has no unit to give a User=", EtcdModeStatic, "etcd", "only systemd-mode etcd"},
		{"root is the default, not a service user", EtcdModeSystemd, "root", "system user name"},
		{"a name useradd refuses", EtcdModeSystemd, "Etcd;x", "system user name"},
		{"etcd on a systemd lab", EtcdModeSystemd, "etcd", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), EtcdMode: tc.mode, Topology: TopologyExternal, EtcdUser: tc.user}
			err := o.defaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if os.Getuid() != 0 {
				if err == nil || !strings.Contains(err.Error(), "needs the lab run as root") {
					t.Fatalf("unprivileged: got %v, want the needs-root refusal", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"/etc/passwd", "/etc/group"} {
				ids, err := fileIDs(f)
				if err != nil {
					t.Fatal(err)
				}
				if o.etcdUID < 100 || o.etcdUID > 999 || slices.Contains(ids, o.etcdUID) {
					t.Errorf("uid %d: not a free system id of %s", o.etcdUID, f)
				}
			}
			for _, s := range o.specs() {
				if want := map[bool]int{true: o.etcdUID, false: 0}[slices.Contains(s.Roles, "etcd")]; s.ServiceUID != want {
					t.Errorf("%s maps service uid %d, want %d", s.Name, s.ServiceUID, want)
				}
			}
		})
	}
}

// The unit applies User= as systemd does when it starts: the name resolved
// in the node's /etc/passwd, etcd run with that uid and gid and without
// root's groups; a user the node does not know fails the start.
func TestAUnitRunsEtcdAsItsUserResolvedOnTheNode(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\netcd:x:991:990:etcd user:/var/lib/etcd:/usr/sbin/nologin\n"
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, want, wantErr string
	}{
		{"", "/usr/local/bin/etcd", ""},
		{"root", "/usr/local/bin/etcd", ""},
		{"etcd", "setpriv --reuid=991 --regid=990 --clear-groups -- /usr/local/bin/etcd", ""},
		{"kube", "", "status=217/USER"},
	} {
		argv, err := (&unit{name: "etcd", user: tc.user}).argv(root)
		if got := strings.Join(argv, " "); got != tc.want || (err == nil) != (tc.wantErr == "") ||
			(err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("User=%q: argv %q, err %v; want %q, err containing %q", tc.user, got, err, tc.want, tc.wantErr)
		}
	}
}
