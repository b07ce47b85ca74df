package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/etcd-dr/etcd-dr/nodes/etcdtools"
)

// Pinned versions of the lab's binaries. They must match the requires in
// testdata/labbin/{etcd36,etcd,kube}/go.mod; the cache key is name-version.
// EtcdVersion is the default: what kubeadm v1.35.4 ships
// (DefaultEtcdVersion = "3.6.6-0").
const (
	EtcdVersion = "v3.6.6"
	KubeVersion = "v1.35.4"
)

// etcdModules maps every etcd version the lab runs (and the bastion brings
// tools of) to the labbin module pinning it.
var etcdModules = map[string]string{"v3.6.6": "etcd36", "v3.7.3": "etcd"}

// EtcdVersions lists the etcd versions the lab supports, oldest first.
func EtcdVersions() []string { return []string{"v3.6.6", "v3.7.3"} }

// Binaries are the absolute paths of the lab's cached executables.
type Binaries struct {
	EtcdVersion                                         string // v3.6.6
	Etcd, Etcdutl, Etcdctl                              string
	KubeApiserver, KubeScheduler, KubeControllerManager string
}

// Kube lists the Kubernetes binaries by the command name a node's PATH
// resolves (the etcd ones live in the node's etcd image dir only).
func (b Binaries) Kube() map[string]string {
	return map[string]string{
		"kube-apiserver": b.KubeApiserver, "kube-scheduler": b.KubeScheduler,
		"kube-controller-manager": b.KubeControllerManager,
	}
}

// EtcdBins lists the etcd binaries by command name.
func (b Binaries) EtcdBins() map[string]string {
	return map[string]string{"etcd": b.Etcd, "etcdutl": b.Etcdutl, "etcdctl": b.Etcdctl}
}

// binarySpec says how one binary is built: from which labbin submodule and
// which package.
type binarySpec struct {
	name, version, module, pkg string
	set                        func(*Binaries, string)
}

// etcdSpecs are the etcd binaries of one version; tools only etcdutl and
// etcdctl (what the bastion brings to nodes).
func etcdSpecs(version string, tools bool) []binarySpec {
	mod := etcdModules[version]
	out := []binarySpec{
		{"etcdutl", version, mod, "go.etcd.io/etcd/etcdutl/v3", func(b *Binaries, p string) { b.Etcdutl = p }},
		{"etcdctl", version, mod, "go.etcd.io/etcd/etcdctl/v3", func(b *Binaries, p string) { b.Etcdctl = p }},
	}
	if tools {
		return out
	}
	return append(out, binarySpec{"etcd", version, mod, "./cmd/etcd", func(b *Binaries, p string) { b.Etcd = p }})
}

var kubeSpecs = []binarySpec{
	{"kube-apiserver", KubeVersion, "kube", "k8s.io/kubernetes/cmd/kube-apiserver", func(b *Binaries, p string) { b.KubeApiserver = p }},
	{"kube-scheduler", KubeVersion, "kube", "k8s.io/kubernetes/cmd/kube-scheduler", func(b *Binaries, p string) { b.KubeScheduler = p }},
	{"kube-controller-manager", KubeVersion, "kube", "k8s.io/kubernetes/cmd/kube-controller-manager", func(b *Binaries, p string) { b.KubeControllerManager = p }},
}

// NormalizeEtcdVersion turns "3.6.6" or "v3.6.6" into a supported "v3.6.6".
func NormalizeEtcdVersion(v string) (string, error) {
	if v == "" {
		return EtcdVersion, nil
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if _, ok := etcdModules[v]; !ok {
		return "", fmt.Errorf("lab: etcd version %s is not built by the lab; use one of %s", v, strings.Join(EtcdVersions(), ", "))
	}
	return v, nil
}

// LabbinEnv names the environment variable that points at testdata/labbin
// when etcd-dr runs outside its clone.
const LabbinEnv = "ETCD_DR_LABBIN"

// BinDir is where the lab's binaries are cached: outside the clone, so a
// fresh clone, CI and the next drill reuse them.
// It is also where the engine looks for the etcd tools it brings to nodes
// (etcdtools.CacheDir).
func BinDir() (string, error) { return etcdtools.CacheDir() }

// EnsureBinaries returns the lab's binaries for etcd etcdVersion ("" is
// EtcdVersion), building the missing ones from the Go module proxy with the
// pinned versions. progress receives one line per step so a cold build
// (minutes on a small machine) is visibly alive. Two processes calling it at
// once serialise on a lock file; each binary is built under a temporary name
// and renamed, so a killed build never leaves a truncated binary behind.
func EnsureBinaries(ctx context.Context, etcdVersion string, progress func(string)) (Binaries, error) {
	v, err := NormalizeEtcdVersion(etcdVersion)
	if err != nil {
		return Binaries{}, err
	}
	b, err := ensure(ctx, append(etcdSpecs(v, false), kubeSpecs...), progress)
	b.EtcdVersion = v
	return b, err
}

// EnsureEtcdTools builds (or finds cached) the static etcdutl and etcdctl
// of etcdVersion the bastion brings to nodes running that etcd.
func EnsureEtcdTools(ctx context.Context, etcdVersion string, progress func(string)) (Binaries, error) {
	v, err := NormalizeEtcdVersion(etcdVersion)
	if err != nil {
		return Binaries{}, err
	}
	b, err := ensure(ctx, etcdSpecs(v, true), progress)
	b.EtcdVersion = v
	return b, err
}

func ensure(ctx context.Context, specs []binarySpec, progress func(string)) (Binaries, error) {
	if progress == nil {
		progress = func(string) {}
	}
	dir, err := BinDir()
	if err != nil {
		return Binaries{}, err
	}
	var out Binaries
	missing := map[string][]binarySpec{}
	var modules []string
	for _, s := range specs {
		p := filepath.Join(dir, s.name+"-"+s.version)
		s.set(&out, p)
		if !isExecutable(p) {
			if len(missing[s.module]) == 0 {
				modules = append(modules, s.module)
			}
			missing[s.module] = append(missing[s.module], s)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("lab binaries: create cache dir %s: %w", dir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"), progress)
	if err != nil {
		return Binaries{}, err
	}
	defer unlock()
	src, err := labbinDir()
	if err != nil {
		return Binaries{}, err
	}
	for _, module := range modules {
		for _, s := range missing[module] {
			if err := buildOne(ctx, dir, filepath.Join(src, module), s, progress); err != nil {
				return Binaries{}, err
			}
		}
	}
	return out, nil
}

// buildOne builds one binary unless a concurrent build finished it while
// this process waited for the lock.
func buildOne(ctx context.Context, dir, moduleDir string, s binarySpec, progress func(string)) error {
	final := filepath.Join(dir, s.name+"-"+s.version)
	if isExecutable(final) {
		progress(fmt.Sprintf("%s %s: built by another process", s.name, s.version))
		return nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", final, os.Getpid())
	progress(fmt.Sprintf("building %s %s (first use only; cached in %s)", s.name, s.version, dir))
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-ldflags=-s -w"+versionFlags(s), "-o", tmp, s.pkg)
	cmd.Dir = moduleDir
	// -mod=readonly: the committed go.sum is the pin; a build must never
	// silently resolve something else.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=0", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("build %s %s in %s: %w\n%s", s.name, s.version, moduleDir, err, tail(string(out), 20))
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("install %s: %w", final, err)
	}
	progress(fmt.Sprintf("built %s %s", s.name, s.version))
	return nil
}

// versionFlags stamps Kubernetes binaries as the release build does
// (hack/lib/version.sh): unstamped they report v0.0.0-master, and the
// apiserver derives its compatibility version from it.
func versionFlags(s binarySpec) string {
	if s.module != "kube" {
		return ""
	}
	minor := strings.Split(s.version, ".")[1]
	var b strings.Builder
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		fmt.Fprintf(&b, " -X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=%s -X %s.gitTreeState=clean",
			pkg, s.version, pkg, pkg, minor, pkg)
	}
	return b.String()
}

// lockFile takes an exclusive flock on path, waiting (and saying so) while
// another build holds it.
func lockFile(ctx context.Context, path string, progress func(string)) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab binaries: open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return func() { _ = f.Close() }, nil
	}
	progress("waiting for another etcd-dr building the lab binaries (lock " + path + ")")
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lab binaries: lock %s: %w", path, err)
		}
		return func() { _ = f.Close() }, nil
	case <-ctx.Done():
		// Closing the file releases the blocked flock call's descriptor.
		_ = f.Close()
		<-done
		return nil, fmt.Errorf("lab binaries: waiting for lock %s: %w", path, ctx.Err())
	}
}

// labbinDir finds testdata/labbin: $ETCD_DR_LABBIN, else upwards from the
// working directory and from the executable (a clone's bin/etcd-dr).
func labbinDir() (string, error) {
	if d := os.Getenv(LabbinEnv); d != "" {
		return d, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		for d := start; ; d = filepath.Dir(d) {
			cand := filepath.Join(d, "testdata", "labbin")
			if _, err := os.Stat(filepath.Join(cand, "etcd", "go.mod")); err == nil {
				return cand, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", errors.New("lab binaries: testdata/labbin not found above the working directory; " +
		"run from the etcd-dr clone or set " + LabbinEnv + " to its testdata/labbin")
}

// goTool prefers the go that built this process's toolchain's GOROOT.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); isExecutable(p) {
			return p
		}
	}
	return "go"
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// tail keeps the last n lines of s: the compiler's error, not the download log.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
