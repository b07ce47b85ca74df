package config

import (
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// RestoredDirTimeFormat is how {{.Time}} renders in etcd.restoredDataDir: UTC,
// sortable, and free of ':' so the directory name is safe everywhere.
const RestoredDirTimeFormat = "20060102T150405Z"

// RestoredDir renders etcd.restoredDataDir for a restore started at t. The
// engine must call it once per run and use the same result on every member.
func (e Etcd) RestoredDir(t time.Time) (string, error) {
	tmpl, err := template.New("restoredDataDir").Option("missingkey=error").Parse(e.RestoredDataDir)
	if err != nil {
		return "", fmt.Errorf("etcd.restoredDataDir %q: %w", e.RestoredDataDir, err)
	}
	var b strings.Builder
	data := struct{ Time string }{Time: t.UTC().Format(RestoredDirTimeFormat)}
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("etcd.restoredDataDir %q: %w (only {{.Time}} is available)", e.RestoredDataDir, err)
	}
	return path.Clean(b.String()), nil
}

// BumpRevisionAuto reports whether the revision bump is computed at run time,
// and otherwise returns the fixed bump. Valid after Load.
func (e Etcd) BumpRevisionAuto() (auto bool, fixed int64) {
	if e.BumpRevision == DefaultBumpRevision {
		return true, 0
	}
	n, _ := strconv.ParseInt(e.BumpRevision, 10, 64)
	return false, n
}

// maxBump is the largest fixed revision bump accepted: 10^15 leaves room for
// any live revision below 9*10^18 without overflowing etcd's int64.
const maxBump = 1_000_000_000_000_000

// unitName is what systemd accepts in a unit name; anything else would be
// passed to systemctl as an argument that cannot name a unit.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.@-]+$`)

func (v *validator) etcd() {
	e, d := &v.c.Etcd, v.d
	if d.ok("etcd.mode") && e.Mode != EtcdModeStaticPod && e.Mode != EtcdModeSystemd {
		v.r.errorf(d.where("etcd.mode"), "etcd.mode: %q is not a mode; use %s (kubeadm) or %s (a systemd unit)%s",
			e.Mode, EtcdModeStaticPod, EtcdModeSystemd, didYouMean(e.Mode, []string{EtcdModeStaticPod, EtcdModeSystemd}))
	}
	manifests := !d.bad["etcd.manifestsDir"] && v.nodePath("etcd.manifestsDir", e.ManifestsDir, DefaultManifestsDir)
	park := !d.bad["etcd.parkDir"] && v.nodePath("etcd.parkDir", e.ParkDir, DefaultParkDir)
	if manifests && park && within(e.ParkDir, e.ManifestsDir) {
		v.r.errorf(d.where("etcd.parkDir"), "etcd.parkDir: %s is inside etcd.manifestsDir %s: the kubelet watches that directory and would go on running parked manifests; park outside it, like %s",
			e.ParkDir, e.ManifestsDir, DefaultParkDir)
	}
	if !d.bad["etcd.restoredDataDir"] {
		v.restoredDataDir()
	}
	if d.ok("etcd.bumpRevision") && e.BumpRevision != DefaultBumpRevision {
		// Capped well below 2^63 so live revision + bump cannot overflow.
		if n, err := strconv.ParseInt(e.BumpRevision, 10, 64); err != nil || n < 1 || n > maxBump {
			v.r.errorf(d.where("etcd.bumpRevision"), "etcd.bumpRevision: %q; use auto (live revision - snapshot revision + margin) or a whole number from 1 to 10^15, like 1000000000", e.BumpRevision)
		}
	}
	v.markCompacted()
	if d.set("etcd.toolsDir") && !d.bad["etcd.toolsDir"] && v.bastionPath("etcd.toolsDir", &e.ToolsDir) {
		if st, err := os.Stat(e.ToolsDir); err != nil || !st.IsDir() {
			v.r.errorf(d.where("etcd.toolsDir"), "etcd.toolsDir: %s is not a directory on this bastion; it must hold etcdutl-vX.Y.Z and etcdctl-vX.Y.Z (see `etcd-dr tools`)", e.ToolsDir)
		}
	}
	v.etcdMode()
}

// markCompacted refuses markCompacted: false. etcd-dr always bumps the
// revision (a fixed bump is at least 1; auto is live - snapshot + margin, or
// 1e9), and etcdutl snapshot restore (3.5.10 and later, snapshot_command.go)
// exits with "--mark-compacted required if --revision-bump > 0" for any bump
// without it. Found only at step 2, that refusal comes after every apiserver
// was stopped; here it costs nothing.
func (v *validator) markCompacted() {
	e, d := &v.c.Etcd, v.d
	if !d.ok("etcd.markCompacted") || e.MarkCompacted {
		return
	}
	bump := "auto (always more than 0)"
	if d.ok("etcd.bumpRevision") && e.BumpRevision != DefaultBumpRevision {
		bump = strconv.Quote(e.BumpRevision)
		if at := d.where("etcd.bumpRevision"); at.line > 0 {
			bump += fmt.Sprintf(" (line %d)", at.line)
		}
	}
	v.r.errorf(d.where("etcd.markCompacted"), "etcd.markCompacted: false with etcd.bumpRevision %s: etcdutl snapshot restore refuses --bump-revision without --mark-compacted (\"--mark-compacted required if --revision-bump > 0\"), and would refuse only at step 2, after the apiservers are stopped; remove markCompacted or set it to true (it also makes watchers relist instead of trusting caches older than the restore)", bump)
}

func (v *validator) restoredDataDir() {
	e, at := &v.c.Etcd, v.d.where("etcd.restoredDataDir")
	// Checked as written, so messages show what the operator typed; the
	// comparisons below use a rendering, as the engine will.
	if !v.nodePath("etcd.restoredDataDir", e.RestoredDataDir, DefaultRestoredDataDir) {
		return
	}
	dir, err := e.RestoredDir(time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC))
	if err != nil {
		v.r.errorf(at, "%v", err)
		return
	}
	// The real data dir is read from each member in preflight; the ones
	// kubeadm and kubespray create are refused here already, because
	// restoring over the live data is the one mistake that cannot be undone.
	switch {
	case dir == "/var/lib/etcd" || dir == "/var/lib/etcd/default.etcd":
		v.r.errorf(at, "etcd.restoredDataDir: %s is where etcd keeps its data now; the restore must go into a NEW directory so the old data stays for rollback, like %s", e.RestoredDataDir, DefaultRestoredDataDir)
	case dir == "/":
		v.r.errorf(at, "etcd.restoredDataDir: / cannot hold a restored member; use a directory of its own, like %s", DefaultRestoredDataDir)
	case within(dir, e.ManifestsDir) || within(dir, e.ParkDir):
		v.r.errorf(at, "etcd.restoredDataDir: %s is inside the manifests or park directory; etcd data belongs under /var/lib, like %s", e.RestoredDataDir, DefaultRestoredDataDir)
	}
}

// etcdMode checks the keys that only one mode uses, and warns when keys of
// the other mode are set: someone expected them to matter.
func (v *validator) etcdMode() {
	e, d := &v.c.Etcd, v.d
	switch e.Mode {
	case EtcdModeSystemd:
		if d.ok("etcd.systemdUnit") && !unitName.MatchString(e.SystemdUnit) {
			v.r.errorf(d.where("etcd.systemdUnit"), "etcd.systemdUnit: %q is not a systemd unit name, like etcd or etcd.service", e.SystemdUnit)
		}
		if !d.bad["etcd.envFile"] {
			v.nodePath("etcd.envFile", e.EnvFile, DefaultEnvFile)
		}
	case EtcdModeStaticPod:
		for _, k := range []string{"etcd.systemdUnit", "etcd.envFile"} {
			if d.set(k) {
				v.r.warnf(d.where(k), "%s is ignored when etcd.mode is %s", k, EtcdModeStaticPod)
			}
		}
	}
}
