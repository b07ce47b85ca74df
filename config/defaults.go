package config

import (
	"os"
	"path/filepath"
	"time"
)

// Defaults for keys the file leaves out. Documented in the cluster-file
// reference (README); keep the two in step.
const (
	DefaultSSHPort         = 22
	DefaultConnectTimeout  = 10 * time.Second
	DefaultCommandTimeout  = 5 * time.Minute
	DefaultKeepalive       = 5 * time.Second
	DefaultConcurrency     = 32
	DefaultKnownHosts      = "~/.ssh/known_hosts"
	DefaultManifestsDir    = "/etc/kubernetes/manifests"
	DefaultParkDir         = "/etc/kubernetes/parked"
	DefaultRestoredDataDir = "/var/lib/etcd-restored-{{.Time}}"
	DefaultBumpRevision    = "auto"
	DefaultSystemdUnit     = "etcd"
	DefaultEnvFile         = "/etc/etcd.env"
	DefaultApiserverPort   = 6443
)

// defaults fills every key the file did not set. Booleans that default to
// true are filled only when absent, which is why the decoder keeps track of
// what was set: "sudo: false" must stay false.
func (v *validator) defaults() {
	c, d := v.c, v.d
	if !d.set("snapshot.on") {
		c.Snapshot.On = SnapshotOnBastion
	}
	v.sshDefaults()
	e := &c.Etcd
	v.fill("etcd.mode", &e.Mode, EtcdModeStaticPod)
	v.fill("etcd.manifestsDir", &e.ManifestsDir, DefaultManifestsDir)
	v.fill("etcd.parkDir", &e.ParkDir, DefaultParkDir)
	v.fill("etcd.restoredDataDir", &e.RestoredDataDir, DefaultRestoredDataDir)
	v.fill("etcd.bumpRevision", &e.BumpRevision, DefaultBumpRevision)
	if e.Mode == EtcdModeSystemd {
		v.fill("etcd.systemdUnit", &e.SystemdUnit, DefaultSystemdUnit)
		v.fill("etcd.envFile", &e.EnvFile, DefaultEnvFile)
	}
	if !d.set("etcd.markCompacted") {
		e.MarkCompacted = true
	}
	if !d.set("apiserver.port") {
		c.Apiserver.Port = DefaultApiserverPort
	}
	if !d.set("state.dir") {
		c.State.Dir = v.defaultStateDir()
	}
}

func (v *validator) sshDefaults() {
	s, d := &v.c.SSH, v.d
	s.Given = SSHGiven{User: d.set("ssh.user"), Port: d.set("ssh.port"),
		IdentityFiles: d.set("ssh.identityFiles"), KnownHosts: d.set("ssh.knownHosts")}
	if !d.set("ssh.user") {
		s.User = v.env.User
	}
	if !d.set("ssh.port") {
		s.Port = DefaultSSHPort
	}
	if !d.set("ssh.identityFiles") {
		s.IdentityFiles = v.existingDefaultKeys()
	}
	v.fill("ssh.knownHosts", &s.KnownHosts, DefaultKnownHosts)
	if !d.set("ssh.sudo") {
		s.Sudo = true
	}
	fillDuration(&s.ConnectTimeout, DefaultConnectTimeout)
	fillDuration(&s.CommandTimeout, DefaultCommandTimeout)
	fillDuration(&s.Keepalive, DefaultKeepalive)
	if !d.set("ssh.concurrency") {
		s.Concurrency = DefaultConcurrency
	}
}

// existingDefaultKeys returns the default key files that exist, expanded,
// the way OpenSSH tries its default keys. None existing is fine: the SSH
// agent may hold the key.
func (v *validator) existingDefaultKeys() []string {
	var out []string
	for _, k := range []string{"~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"} {
		p, err := v.expand(k)
		if err != nil {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

// defaultStateDir follows the XDG base directory spec: $XDG_STATE_HOME if set
// to an absolute path, else ~/.local/state.
func (v *validator) defaultStateDir() string {
	if x, ok := v.env.LookupEnv("XDG_STATE_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "etcd-dr")
	}
	return "~/.local/state/etcd-dr"
}

// fill sets a key the file left out; a key set to "" stays "" and is
// reported by validation, rather than silently replaced.
func (v *validator) fill(path string, s *string, def string) {
	if !v.d.set(path) {
		*s = def
	}
}

func fillDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}
