package snapshot

import (
	"encoding/json"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"
)

// Member is one member of the cluster a snapshot was taken from, as etcd's
// "members" bucket records it (etcd server/etcdserver/api/membership).
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// Members lists the member set recorded in the snapshot, sorted by name,
// read-only and in a child process as Inspect is. A snapshot without a
// members bucket (etcd before 3.4 kept members in the v2 store) yields nil:
// the member set is unknown, not empty.
func Members(path string) ([]Member, error) {
	res, err := inspectChild(modeMembers, path)
	if err != nil {
		return nil, err
	}
	return res.Members, nil
}

// childMembers decodes the members bucket: key the member ID in hex, value
// the member as JSON.
func childMembers(path string) ([]Member, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var out []Member
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("members"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var m Member
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("members bucket, member %s: %w", k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}
