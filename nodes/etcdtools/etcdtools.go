// Package etcdtools finds the static etcdutl and etcdctl binaries the
// bastion brings to etcd nodes. A kubeadm host has no etcd tools on its
// PATH (they live only inside the etcd image), and a kubespray host's may be
// another minor version than its etcd or hidden by sudo's secure_path, so
// the engine never assumes them: it copies the bastion's binary of the
// member's etcd minor version to the node and proves it there.
//
// The bastion's binaries are files named TOOL-vX.Y.Z (etcdutl-v3.6.6) in one
// directory: by default the cache the drill lab builds them into
// ($(os.UserCacheDir)/etcd-dr/bin, `etcd-dr tools build`), or the cluster
// file's etcd.toolsDir on an air-gapped bastion given a prepared directory.
package etcdtools

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Tools the bastion brings.
const (
	Etcdutl = "etcdutl"
	Etcdctl = "etcdctl"
)

// Version is an etcd release, major.minor.patch.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// SameMinor reports whether v and o share major and minor version.
func (v Version) SameMinor(o Version) bool { return v.Major == o.Major && v.Minor == o.Minor }

// Newer reports whether v's major.minor is above o's (patches never change
// the storage format).
func (v Version) Newer(o Version) bool {
	return v.Major > o.Major || (v.Major == o.Major && v.Minor > o.Minor)
}

var versionRe = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)`)

// ParseVersion reads "3.6.6", "v3.6.6" or an image tag such as "3.6.6-0".
func ParseVersion(s string) (Version, error) {
	m := versionRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return Version{}, fmt.Errorf("%q is not an etcd version (want X.Y.Z)", s)
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return Version{v[0], v[1], v[2]}, nil
}

// Tool is one binary on the bastion.
type Tool struct {
	Name    string  `json:"name"` // etcdutl or etcdctl
	Version Version `json:"version"`
	Path    string  `json:"path"`
}

// CacheDir is where the lab and `etcd-dr tools build` keep built binaries.
func CacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("etcd tools: no user cache dir (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(dir, "etcd-dr", "bin"), nil
}

// Dir is configured (the cluster file's etcd.toolsDir) or the cache dir.
func Dir(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	return CacheDir()
}

var fileRe = regexp.MustCompile(`^(etcdutl|etcdctl)-v(\d+\.\d+\.\d+)$`)

// List returns every etcdutl and etcdctl in dir, newest first per tool. A
// missing dir is an empty list: nothing was built or prepared yet.
func List(dir string) ([]Tool, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("etcd tools: read %s: %w", dir, err)
	}
	var out []Tool
	for _, e := range entries {
		m := fileRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			continue
		}
		v, _ := ParseVersion(m[2])
		out = append(out, Tool{Name: m[1], Version: v, Path: p})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Version.Newer(b.Version) || (a.Version.SameMinor(b.Version) && a.Version.Patch > b.Version.Patch)
	})
	return out, nil
}

// Find returns dir's newest name of the same major.minor as want.
func Find(dir, name string, want Version) (Tool, error) {
	tools, err := List(dir)
	if err != nil {
		return Tool{}, err
	}
	for _, t := range tools {
		if t.Name == name && t.Version.SameMinor(want) {
			return t, nil
		}
	}
	return Tool{}, fmt.Errorf("no %s %d.%d.x in %s (files named %s-vX.Y.Z): build it with `etcd-dr tools build --etcd-version %s` "+
		"or copy a static linux %s of etcd %d.%d there", name, want.Major, want.Minor, dir, name, want, name, want.Major, want.Minor)
}

// SHA256 is the hex sha256 of the file at path.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sha256 of %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
