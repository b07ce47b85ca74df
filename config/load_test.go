package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// minimalFile is a valid cluster file whose snapshot sits next to it.
const minimalFile = `cluster: lab
snapshot: {path: snap.db}
nodes:
  - {name: cp-1, address: 127.0.10.1, roles: [control-plane, etcd]}
`

// bastion is a throwaway bastion: a home with known_hosts, optional keys,
// and a cluster directory holding a snapshot. It returns the env and the
// cluster directory.
func bastion(t *testing.T, keys []string, vars map[string]string) (Env, string) {
	t.Helper()
	root := t.TempDir()
	home, dir := filepath.Join(root, "home"), filepath.Join(root, "cluster")
	writeFile(t, filepath.Join(home, ".ssh", "known_hosts"), "# empty\n")
	for _, k := range keys {
		writeFile(t, filepath.Join(home, ".ssh", k), "key\n")
	}
	writeFile(t, filepath.Join(dir, "snap.db"), "snapshot\n")
	return Env{Home: home, User: "ops", LookupEnv: func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}}, dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, env Env, dir, content string) *Cluster {
	t.Helper()
	file := filepath.Join(dir, "cluster.yaml")
	writeFile(t, file, content)
	c, _, err := LoadEnv(file, env)
	if err != nil {
		t.Fatalf("load:\n%v", err)
	}
	return c
}

func TestDefaultsFollowTheBastion(t *testing.T) {
	tests := []struct {
		name      string
		keys      []string
		vars      map[string]string
		wantKeys  []string
		wantState string // relative to home, or absolute
	}{
		{name: "both default keys are offered when both exist", keys: []string{"id_ed25519", "id_rsa"},
			wantKeys: []string{".ssh/id_ed25519", ".ssh/id_rsa"}, wantState: ".local/state/etcd-dr"},
		{name: "an ecdsa key is a default key too, as for OpenSSH", keys: []string{"id_ecdsa", "id_rsa"},
			wantKeys: []string{".ssh/id_ecdsa", ".ssh/id_rsa"}, wantState: ".local/state/etcd-dr"},
		{name: "only the keys that exist are offered", keys: []string{"id_rsa"},
			wantKeys: []string{".ssh/id_rsa"}, wantState: ".local/state/etcd-dr"},
		{name: "no key files leaves the agent to do the work",
			wantState: ".local/state/etcd-dr"},
		{name: "an absolute XDG_STATE_HOME holds the state dir", vars: map[string]string{"XDG_STATE_HOME": "/srv/state"},
			wantState: "/srv/state/etcd-dr"},
		{name: "a relative XDG_STATE_HOME is ignored as the spec says", vars: map[string]string{"XDG_STATE_HOME": "state"},
			wantState: ".local/state/etcd-dr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, dir := bastion(t, tt.keys, tt.vars)
			c := mustLoad(t, env, dir, minimalFile)
			var want []string
			for _, k := range tt.wantKeys {
				want = append(want, filepath.Join(env.Home, k))
			}
			if !reflect.DeepEqual(c.SSH.IdentityFiles, want) {
				t.Errorf("identityFiles = %q, want %q", c.SSH.IdentityFiles, want)
			}
			wantState := tt.wantState
			if !filepath.IsAbs(wantState) {
				wantState = filepath.Join(env.Home, wantState)
			}
			if c.State.Dir != wantState {
				t.Errorf("state.dir = %q, want %q", c.State.Dir, wantState)
			}
		})
	}
}

func TestDefaultsFillEveryKeyTheFileLeavesOut(t *testing.T) {
	env, dir := bastion(t, nil, nil)
	c := mustLoad(t, env, dir, minimalFile)
	checks := []struct {
		name      string
		got, want any
	}{
		{"ssh.user is the current user", c.SSH.User, "ops"},
		{"ssh.port is 22", c.SSH.Port, 22},
		{"ssh.knownHosts is ~/.ssh/known_hosts", c.SSH.KnownHosts, filepath.Join(env.Home, ".ssh/known_hosts")},
		{"ssh.sudo is on", c.SSH.Sudo, true},
		{"ssh.connectTimeout is 10s", c.SSH.ConnectTimeout, 10 * time.Second},
		{"ssh.commandTimeout is 5m", c.SSH.CommandTimeout, 5 * time.Minute},
		{"ssh.keepalive is 5s", c.SSH.Keepalive, 5 * time.Second},
		{"ssh.concurrency is 32", c.SSH.Concurrency, 32},
		{"etcd.mode is static-pod", c.Etcd.Mode, EtcdModeStaticPod},
		{"etcd.manifestsDir is kubeadm's", c.Etcd.ManifestsDir, "/etc/kubernetes/manifests"},
		{"etcd.parkDir is a sibling of it", c.Etcd.ParkDir, "/etc/kubernetes/parked"},
		{"etcd.restoredDataDir is timestamped", c.Etcd.RestoredDataDir, "/var/lib/etcd-restored-{{.Time}}"},
		{"etcd.bumpRevision is auto", c.Etcd.BumpRevision, "auto"},
		{"etcd.markCompacted is on", c.Etcd.MarkCompacted, true},
		{"etcd.systemdUnit is unset in static-pod mode", c.Etcd.SystemdUnit, ""},
		{"apiserver.port is 6443", c.Apiserver.Port, 6443},
		{"snapshot.on is the bastion", c.Snapshot.On, SnapshotOnBastion},
		{"snapshot.path is relative to the cluster file", c.Snapshot.Path, filepath.Join(dir, "snap.db")},
		{"the node remembers its line", c.Nodes[0].Line, 4},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	systemd := mustLoad(t, env, dir, minimalFile+"etcd: {mode: systemd}\n")
	if systemd.Etcd.SystemdUnit != "etcd" || systemd.Etcd.EnvFile != "/etc/etcd.env" {
		t.Errorf("systemd mode defaults: unit %q, envFile %q", systemd.Etcd.SystemdUnit, systemd.Etcd.EnvFile)
	}
}

func TestExplicitFalseIsNotOverriddenByADefaultOfTrue(t *testing.T) {
	env, dir := bastion(t, nil, nil)
	// etcd.markCompacted: false is refused (TestMarkCompactedFalseIsRefusedBeforeAnyStep).
	c := mustLoad(t, env, dir, minimalFile+"ssh: {user: root, sudo: false}\n")
	if c.SSH.Sudo {
		t.Errorf("sudo %v: an explicit false must stay false", c.SSH.Sudo)
	}
}

func TestTheBastionItselfCanMakeAFileUnusable(t *testing.T) {
	tests := []struct {
		name   string
		env    func(Env) Env
		extra  string
		prep   func(t *testing.T, dir string)
		wantIn string
	}{
		{name: "an unknown current user needs ssh.user", env: func(e Env) Env { e.User = ""; return e },
			wantIn: "ssh.user: not set and the current user is unknown"},
		{name: "an unknown home cannot expand ~", env: func(e Env) Env { e.Home = ""; return e },
			wantIn: `ssh.knownHosts: "~/.ssh/known_hosts": cannot expand ~: the home directory is unknown`},
		{name: "a set but empty variable is refused like an unset one", env: func(e Env) Env {
			e.LookupEnv = func(string) (string, bool) { return "", true }
			return e
		}, extra: "state: {dir: $STATE/etcd-dr}\n", wantIn: "$STATE is not set or empty"},
		{name: "a snapshot that is a named pipe is not a file", extra: "", prep: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "snap.db")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
		}, wantIn: "snap.db is not a regular file"},
		{name: "a snapshot behind a symlink loop cannot be inspected", prep: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "snap.db")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(p, p); err != nil {
				t.Fatal(err)
			}
		}, wantIn: "snap.db: too many levels of symbolic links"},
		{name: "an empty snapshot is refused", prep: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "snap.db"), "")
		}, wantIn: "snap.db is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, dir := bastion(t, nil, nil)
			if tt.env != nil {
				env = tt.env(env)
			}
			if tt.prep != nil {
				tt.prep(t, dir)
			}
			file := filepath.Join(dir, "cluster.yaml")
			writeFile(t, file, minimalFile+tt.extra)
			_, _, err := LoadEnv(file, env)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("error %v\nwant it to contain %q", err, tt.wantIn)
			}
		})
	}
}

func TestAFileThatCannotBeReadIsAPlainErrorNamingTheFlag(t *testing.T) {
	_, _, err := LoadEnv(filepath.Join(t.TempDir(), "nope.yaml"), Env{})
	var errs *Errors
	if err == nil || errors.As(err, &errs) || !strings.Contains(err.Error(), "check the -f path") {
		t.Fatalf("got %v, want a plain error pointing at -f", err)
	}
}

func TestAnOversizedFileIsRefusedBeforeParsing(t *testing.T) {
	_, _, err := Parse("big.yaml", make([]byte, MaxFileSize+1), Env{})
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}

func TestEffectiveConfigLoadsBackToItself(t *testing.T) {
	for _, file := range fixtures(t, "good") {
		t.Run(filepath.Base(file), func(t *testing.T) {
			env := testEnv(t)
			c, _, err := LoadEnv(file, env)
			if err != nil {
				t.Fatal(err)
			}
			first, err := c.Effective()
			if err != nil {
				t.Fatal(err)
			}
			again, _, err := Parse(file, first, env)
			if err != nil {
				t.Fatalf("the effective config does not load:\n%v\n%s", err, first)
			}
			second, err := again.Effective()
			if err != nil {
				t.Fatal(err)
			}
			if string(first) != string(second) {
				t.Errorf("effective config changed on reload:\n%s\n---\n%s", first, second)
			}
		})
	}
}

func TestNodesInheritSSHUserAndPortUnlessTheyOverrideThem(t *testing.T) {
	c, _, err := LoadEnv(filepath.Join(testdataDir, "good", "stacked-kubeadm.yaml"), testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		node, user string
		port       int
	}{{"cp-1", "ops", 22}, {"w-2", "admin", 2222}}
	for _, tt := range tests {
		n, ok := c.Node(tt.node)
		if !ok {
			t.Fatalf("node %s missing", tt.node)
		}
		if u, p := c.SSHUser(n), c.SSHPort(n); u != tt.user || p != tt.port {
			t.Errorf("%s: %s:%d, want %s:%d", tt.node, u, p, tt.user, tt.port)
		}
	}
}

func TestSSHConfigNamesAReadableFileOrNone(t *testing.T) {
	tests := []struct {
		name, value, wantErr string
		want                 string // the effective value, relative to the cluster dir when not none
	}{
		{name: "none reads no OpenSSH configuration", value: "none", want: "none"},
		{name: "a file beside the cluster file is read with ssh -F", value: "ssh_config", want: "ssh_config"},
		{name: "a missing file is an error naming the key", value: "absent_config", wantErr: "ssh.config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, dir := bastion(t, nil, nil)
			writeFile(t, filepath.Join(dir, "ssh_config"), "Host *\n  Port 22\n")
			file := filepath.Join(dir, "cluster.yaml")
			writeFile(t, file, minimalFile+"ssh: {config: "+tt.value+", user: ops}\n")
			c, _, err := LoadEnv(file, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "does not exist") {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want != SSHConfigNone {
				want = filepath.Join(dir, want)
			}
			// The keys the file set are recorded: OpenSSH's configuration
			// fills only the others.
			if c.SSH.Config != want || !c.SSH.Given.User || c.SSH.Given.Port || c.SSH.Given.IdentityFiles || c.SSH.Given.KnownHosts {
				t.Fatalf("config %q given %+v, want %q and only user given", c.SSH.Config, c.SSH.Given, want)
			}
		})
	}
}
