package snapshot

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/config/safefile"
)

// KeyRev is one live key and the revisions that say which write made it:
// two sides holding the same key with the same ModRevision hold the same value.
type KeyRev struct {
	Key    string `json:"key"`
	Create int64  `json:"create"`
	Mod    int64  `json:"mod"`
}

// Keyspace is every live key of one side of a diff, at a revision.
type Keyspace struct {
	Revision int64    `json:"revision"`
	Keys     []KeyRev `json:"keys"`
}

// Diff is what a restore does to the live keyspace. It is computed, never
// applied: the operator reads it at the gate before agreeing to lose it.
type Diff struct {
	SnapshotRevision int64 `json:"snapshotRevision"`
	LiveRevision     int64 `json:"liveRevision"`
	// Gap is how many revisions (writes) the restore throws away.
	Gap int64 `json:"gap"`
	// Dropped keys were created after the snapshot: the restore deletes them.
	Dropped []Group `json:"dropped"`
	// BroughtBack keys were deleted after the snapshot: the restore revives them.
	BroughtBack []Group `json:"broughtBack"`
	// RolledBack keys were changed (or deleted and recreated) after the
	// snapshot: the restore puts back the snapshot's value.
	RolledBack []Group `json:"rolledBack"`
}

// Group is the keys of one resource in one namespace ("" when cluster-scoped;
// Resource "" for keys outside /registry/).
type Group struct {
	Resource  string   `json:"resource"`
	Namespace string   `json:"namespace,omitempty"`
	Names     []string `json:"names"` // the object names, or whole keys outside /registry/
}

// SnapshotKeys reads every live key of a snapshot read-only, in the child
// process like Inspect, so a damaged file is a reason, not a crash. It
// holds the whole list: the gate streams SnapshotKeyFile instead.
func SnapshotKeys(path string) (Keyspace, error) {
	kf, err := SnapshotKeyFile(path, "")
	if err != nil {
		return Keyspace{}, err
	}
	defer kf.Close()
	ks := Keyspace{Revision: kf.Revision, Keys: make([]KeyRev, 0, kf.Count)}
	r, err := kf.Open()
	if err != nil {
		return Keyspace{}, &Error{path, ErrDamaged, err.Error()}
	}
	defer r.Close()
	for {
		k, err := r.Next()
		if err == io.EOF {
			return ks, nil
		}
		if err != nil {
			return Keyspace{}, &Error{path, ErrDamaged, err.Error()}
		}
		ks.Keys = append(ks.Keys, k)
	}
}

// ParseEtcdctlKeys decodes one `etcdctl get --keys-only -w json` answer
// whole (see ParseEtcdctlPage for a page of a longer listing).
func ParseEtcdctlKeys(out []byte) (Keyspace, error) {
	p, err := ParseEtcdctlPage(out)
	return Keyspace{Revision: p.Revision, Keys: p.Keys}, err
}

// Compare says what restoring snap over live does. Keys are matched by name;
// a key with another mod revision was written after the snapshot (deleted
// and recreated counts too: the new write has a new mod revision), and the
// restore rolls it back. It is Merger over two whole lists.
func Compare(snap, live Keyspace) Diff {
	byKey := func(ks []KeyRev) []KeyRev {
		out := slices.Clone(ks)
		slices.SortFunc(out, func(a, b KeyRev) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	m := NewMerger(byKey(snap.Keys))
	for _, l := range byKey(live.Keys) {
		_ = m.Live(l) // sorted here; a repeated key is the only error, and is then counted once
	}
	return m.Diff(snap.Revision, live.Revision)
}

// group sorts keys into resource/namespace groups, in a stable order.
func group(keys []string) []Group {
	sort.Strings(keys)
	byID := map[[2]string]*Group{}
	var out []*Group
	for _, k := range keys {
		res, ns, ok := ParseRegistryKey(k)
		name := k
		if ok {
			name = k[strings.LastIndex(k, "/")+1:]
		}
		id := [2]string{res, ns}
		g := byID[id]
		if g == nil {
			g = &Group{Resource: res, Namespace: ns}
			byID[id] = g
			out = append(out, g)
		}
		g.Names = append(g.Names, name)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Resource != out[j].Resource {
			return out[i].Resource < out[j].Resource
		}
		return out[i].Namespace < out[j].Namespace
	})
	groups := make([]Group, len(out))
	for i, g := range out {
		groups[i] = *g
	}
	return groups
}

// Keys lists every key of the groups, as etcd names them.
func Keys(gs []Group) []string {
	var out []string
	for _, g := range gs {
		for _, n := range g.Names {
			switch {
			case g.Resource == "":
				out = append(out, n)
			case g.Namespace == "":
				out = append(out, "/registry/"+g.Resource+"/"+n)
			default:
				out = append(out, "/registry/"+g.Resource+"/"+g.Namespace+"/"+n)
			}
		}
	}
	return out
}

// inspectChild runs a read-only mode of the child after the header checks
// Inspect makes, so SnapshotKeys refuses damaged files for the same reasons.
func inspectChild(mode, path string) (childResult, error) {
	return inspectChildOut(mode, path, "")
}

// inspectChildOut is inspectChild for the modes that read every revision:
// out is the file the child writes the keys to (keys mode); spilled sorted
// runs go beside it.
func inspectChildOut(mode, path, out string) (childResult, error) {
	f, st, err := safefile.Open(path, 0)
	if err != nil {
		return childResult{}, &Error{path, ErrNotFound, err.Error()}
	}
	meta, err := readBoltMeta(f, st.Size())
	f.Close()
	if err != nil {
		return childResult{}, &Error{path, ErrNotBolt, err.Error()}
	}
	if st.Size() < meta.dbSize() {
		return childResult{}, &Error{path, ErrTruncated, fmt.Sprintf("the database needs %d bytes but the file has %d", meta.dbSize(), st.Size())}
	}
	res, err := inChildFor(mode, path, max(keysDeadline(meta), time.Minute+time.Duration(st.Size()>>30)*time.Minute), childOut+"="+out)
	switch {
	case err != nil:
		return childResult{}, &Error{path, ErrDamaged, err.Error()}
	case res.Locked:
		return childResult{}, &Error{path, ErrInUse, "another process (a running etcd?) holds its lock"}
	case res.NotEtc != "":
		return childResult{}, &Error{path, ErrNotEtcd, res.NotEtc}
	}
	return res, nil
}

// keysDeadline bounds the child that reads every revision. Its work grows
// with the revisions (one decode and one sort entry each), not the bytes: a
// file of small keys packs more revisions per page, and a million tiny keys
// can fit in the few hundred MiB that the old byte-sized minute allowed
// while the walk took longer. The revision count is only known after the
// walk, so it is bounded from the page count the header gives: a leaf
// element is at least 16 bytes of header, 17 of revision key and a few of
// KeyValue, so a page holds at most pageSize/minRevisionBytes revisions.
// Measured cost is well under 1µs a revision (cached); 20µs leaves room for
// a cold disk and a shared CPU while still ending a damaged tree's loop.
func keysDeadline(m boltMeta) time.Duration {
	const minRevisionBytes, perRevision = 40, 20 * time.Microsecond
	revisions := m.dbSize() / minRevisionBytes
	return time.Minute + time.Duration(revisions)*perRevision
}

// Sentence is the diff in one line for the step-2 gate: "restoring drops 1
// namespaces, 2 configmaps created after the snapshot; brings back 2 deleted
// secrets; rolls back 4 leases changed after it; 57 revisions are lost".
func (d Diff) Sentence() string {
	var parts []string
	if s := counts(d.Dropped); s != "" {
		parts = append(parts, "drops "+s+" created after the snapshot")
	}
	if s := counts(d.BroughtBack); s != "" {
		parts = append(parts, "brings back "+s+" deleted after it")
	}
	if s := counts(d.RolledBack); s != "" {
		parts = append(parts, "rolls back "+s+" changed after it")
	}
	if len(parts) == 0 {
		return fmt.Sprintf("restoring changes no key: the live etcd (revision %d) holds what the snapshot holds", d.LiveRevision)
	}
	return fmt.Sprintf("restoring %s; %d revisions are lost", strings.Join(parts, "; "), d.Gap)
}

// counts renders "3 namespaces, 41 deployments" by resource, most first;
// keys outside /registry/ count as "other keys".
func counts(gs []Group) string {
	n := map[string]int{}
	for _, g := range gs {
		name := g.Resource
		if name == "" {
			name = "other keys"
		}
		n[name] += len(g.Names)
	}
	names := make([]string, 0, len(n))
	for k := range n {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if n[names[i]] != n[names[j]] {
			return n[names[i]] > n[names[j]]
		}
		return names[i] < names[j]
	})
	for i, k := range names {
		names[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return strings.Join(names, ", ")
}
