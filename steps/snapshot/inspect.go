package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Summary is what a snapshot holds in Kubernetes' terms: the operator sees
// which resources and namespaces come back (and how recent they are) before
// deciding to restore.
type Summary struct {
	Revision  int64      `json:"revision"` // newest revision in the key bucket
	Keys      int        `json:"keys"`     // live keys
	Resources []Resource `json:"resources"`
	// Other counts live keys outside /registry/ (not the apiserver's).
	Other int `json:"other"`
}

// Resource counts the live keys of one resource.
type Resource struct {
	// Name is "configmaps", "services/specs", or "group/resource" for
	// aggregated and custom resources ("apiregistration.k8s.io/apiservices").
	Name string `json:"name"`
	Keys int    `json:"keys"`
	// Namespaces counts keys per namespace; empty for cluster-scoped resources.
	Namespaces map[string]int `json:"namespaces,omitempty"`
	// NewestModRevision is the newest change to any live key of the resource.
	NewestModRevision int64 `json:"newestModRevision"`
}

// Inspect reads the Kubernetes keyspace of a snapshot read-only. Like Verify,
// it reads the header itself and leaves bbolt to a child process, so a
// damaged file is a reason, not a crash. It does not check the trailer:
// Verify does.
func Inspect(path string) (Summary, error) {
	dir, err := os.MkdirTemp("", "etcd-dr-inspect-")
	if err != nil {
		return Summary{}, &Error{path, ErrDamaged, "cannot make a temp dir to sort its keys: " + err.Error()}
	}
	defer os.RemoveAll(dir)
	res, err := inspectChildOut(modeInspect, path, filepath.Join(dir, "keys"))
	if err != nil {
		return Summary{}, err
	}
	return res.Summary, nil
}

// childInspect summarises the keys alive at the snapshot's revision, read
// in key order (liveKeys); runs that do not fit in memory go beside out.
func childInspect(path, out string) (Summary, error) {
	if out == "" {
		return Summary{}, errors.New("no temp dir to sort the keys in")
	}
	var s Summary
	byName := make(map[string]*Resource)
	rev, err := liveKeys(path, filepath.Dir(out), func(key []byte, _, mod int64) error {
		summarise(&s, byName, string(key), mod)
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	s.Revision = rev
	for _, r := range byName {
		s.Resources = append(s.Resources, *r)
	}
	sort.Slice(s.Resources, func(i, j int) bool { return s.Resources[i].Name < s.Resources[j].Name })
	return s, nil
}

// summarise counts one live key into its resource and namespace.
func summarise(s *Summary, byName map[string]*Resource, key string, modRev int64) {
	s.Keys++
	name, ns, ok := ParseRegistryKey(key)
	if !ok {
		s.Other++
		return
	}
	r := byName[name]
	if r == nil {
		r = &Resource{Name: name}
		byName[name] = r
	}
	r.Keys++
	r.NewestModRevision = max(r.NewestModRevision, modRev)
	if ns != "" {
		if r.Namespaces == nil {
			r.Namespaces = make(map[string]int)
		}
		r.Namespaces[ns]++
	}
}

// twoLevel lists core resources stored one level deeper than their name.
var twoLevel = map[string]bool{"services": true}

// ParseRegistryKey splits an apiserver key: /registry/<resource>/<ns>/<name>
// for namespaced objects, /registry/<resource>/<name> for cluster-scoped
// ones; a resource segment holding a dot is an API group, followed by the
// resource ("/registry/apiregistration.k8s.io/apiservices/<name>"). Scope is
// inferred from the depth, as nothing in the key states it.
func ParseRegistryKey(key string) (resource, namespace string, ok bool) {
	rest, found := strings.CutPrefix(key, "/registry/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	n := 1
	if strings.Contains(parts[0], ".") || (twoLevel[parts[0]] && len(parts) > 2) {
		n = 2
	}
	if len(parts) < n+1 || parts[0] == "" {
		return "", "", false
	}
	resource, parts = strings.Join(parts[:n], "/"), parts[n:]
	if len(parts) >= 2 {
		namespace = parts[0]
	}
	return resource, namespace, true
}
