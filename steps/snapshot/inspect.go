package snapshot

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
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
	res, err := inspectChild(modeInspect, path)
	if err != nil {
		return Summary{}, err
	}
	return res.Summary, nil
}

// live is the newest state of one key while replaying the key bucket.
type live struct{ createRev, modRev int64 }

// childInspect summarises the keys alive at the snapshot's revision.
func childInspect(path string) (Summary, error) {
	rev, keys, err := replay(path)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Revision: rev}
	summarise(&s, keys)
	return s, nil
}

// childKeys lists the keys alive at the snapshot's revision, for Compare.
func childKeys(path string) (Keyspace, error) {
	rev, keys, err := replay(path)
	if err != nil {
		return Keyspace{}, err
	}
	ks := Keyspace{Revision: rev, Keys: make([]KeyRev, 0, len(keys))}
	for k, l := range keys {
		ks.Keys = append(ks.Keys, KeyRev{Key: k, Create: l.createRev, Mod: l.modRev})
	}
	sort.Slice(ks.Keys, func(i, j int) bool { return ks.Keys[i].Key < ks.Keys[j].Key })
	return ks, nil
}

// replay reads the key bucket in revision order (its keys are revisions)
// and returns the newest revision and the keys still alive at the end.
func replay(path string) (int64, map[string]live, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	keys := make(map[string]live)
	var rev int64
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("key")).ForEach(func(k, v []byte) error {
			// A revision key is 8-byte main, '_', 8-byte sub, then 't' for a tombstone.
			if len(k) < 17 {
				return fmt.Errorf("revision key %x is %d bytes, want 17 or 18", k, len(k))
			}
			rev = max(rev, int64(binary.BigEndian.Uint64(k)))
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return fmt.Errorf("revision %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if len(k) == 18 && k[17] == 't' {
				delete(keys, string(kv.Key))
				return nil
			}
			keys[string(kv.Key)] = live{createRev: kv.CreateRevision, modRev: kv.ModRevision}
			return nil
		})
	})
	return rev, keys, err
}

// summarise groups live keys by resource and namespace.
func summarise(s *Summary, keys map[string]live) {
	byName := make(map[string]*Resource)
	for key, l := range keys {
		s.Keys++
		name, ns, ok := ParseRegistryKey(key)
		if !ok {
			s.Other++
			continue
		}
		r := byName[name]
		if r == nil {
			r = &Resource{Name: name}
			byName[name] = r
		}
		r.Keys++
		r.NewestModRevision = max(r.NewestModRevision, l.modRev)
		if ns != "" {
			if r.Namespaces == nil {
				r.Namespaces = make(map[string]int)
			}
			r.Namespaces[ns]++
		}
	}
	for _, r := range byName {
		s.Resources = append(s.Resources, *r)
	}
	sort.Slice(s.Resources, func(i, j int) bool { return s.Resources[i].Name < s.Resources[j].Name })
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
