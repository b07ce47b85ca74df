package steps

import (
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// SnapshotFromCluster compares the member set a snapshot records with the
// live members read from the manifests. Member names are what a cluster
// keeps when it moves: members that kept their names but changed peer URLs
// moved (step 3's case) and are allowed. A snapshot whose names share none
// with the cluster's is another cluster's data: restoring it would replace
// every object of this cluster with that cluster's, so it is refused unless
// the cluster file says the members were renamed on purpose.
// The facts say what was compared, for the gate.
func SnapshotFromCluster(file string, snap []snapshot.Member, live []Member, renamed bool) ([]string, error) {
	if len(snap) == 0 {
		return []string{"the snapshot records no member set (etcd before 3.4): not checked that it comes from this cluster"}, nil
	}
	var shared, moved []string
	for _, l := range live {
		i := slices.IndexFunc(snap, func(s snapshot.Member) bool { return s.Name == l.Name })
		if i < 0 {
			continue
		}
		shared = append(shared, l.Name)
		if strings.Join(snap[i].PeerURLs, ",") != strings.Join(l.PeerURLs, ",") {
			moved = append(moved, fmt.Sprintf("%s %s -> %s", l.Name, strings.Join(snap[i].PeerURLs, ","), strings.Join(l.PeerURLs, ",")))
		}
	}
	sets := fmt.Sprintf("the snapshot's members are %s, this cluster's are %s", describeSnapMembers(snap), describeMembers(live))
	switch {
	case len(shared) == 0 && !renamed:
		return nil, fmt.Errorf("snapshot %s comes from another cluster: %s, and no name is shared. Restoring it would replace "+
			"every object of this cluster with that cluster's. Use a snapshot of this cluster; or, if this cluster was rebuilt "+
			"under new member names on purpose, set snapshot.membersRenamed: true in the cluster file", file, sets)
	case len(shared) == 0:
		return []string{"member names differ entirely (" + sets + "): accepted because snapshot.membersRenamed is true"}, nil
	}
	facts := []string{fmt.Sprintf("snapshot from this cluster: %d of %d member names shared (%s)", len(shared), len(snap), strings.Join(shared, ", "))}
	if len(shared) < max(len(snap), len(live)) {
		facts = append(facts, "member set changed since the snapshot: "+sets)
	}
	if len(moved) > 0 {
		facts = append(facts, "members moved since the snapshot (peer URLs): "+strings.Join(moved, "; "))
	}
	return facts, nil
}

func describeSnapMembers(ms []snapshot.Member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name+" ("+strings.Join(m.PeerURLs, ",")+")")
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func describeMembers(ms []Member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name+" ("+strings.Join(m.PeerURLs, ",")+")")
	}
	return "[" + strings.Join(out, ", ") + "]"
}
