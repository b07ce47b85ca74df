package snapshot

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
)

// Page is one page of `etcdctl get --from-key K --keys-only --limit N -w
// json`: keys in ascending byte order, read at Revision.
type Page struct {
	Revision int64
	// Count is how many keys the whole range holds at Revision (etcd counts
	// the range, not the page): the listing is complete when it has them all.
	Count int64
	More  bool // keys follow the page's last
	Keys  []KeyRev
}

// ParseEtcdctlPage decodes one page of etcdctl's JSON (keys are base64 there,
// as Go's JSON prints bytes).
func ParseEtcdctlPage(out []byte) (Page, error) {
	var resp struct {
		Header struct {
			Revision int64 `json:"revision"`
		} `json:"header"`
		Kvs []struct {
			Key    string `json:"key"`
			Create int64  `json:"create_revision"`
			Mod    int64  `json:"mod_revision"`
		} `json:"kvs"`
		More  bool  `json:"more"`
		Count int64 `json:"count"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return Page{}, fmt.Errorf("etcdctl get printed no key list: %w", err)
	}
	p := Page{Revision: resp.Header.Revision, Count: resp.Count, More: resp.More}
	for _, kv := range resp.Kvs {
		k, err := base64.StdEncoding.DecodeString(kv.Key)
		if err != nil {
			return Page{}, fmt.Errorf("etcdctl get: key %q is not base64: %w", kv.Key, err)
		}
		p.Keys = append(p.Keys, KeyRev{Key: string(k), Create: kv.Create, Mod: kv.Mod})
	}
	return p, nil
}

// Merger compares the snapshot's keys with the live keys as they stream in,
// both in ascending key order, holding only the differences: the snapshot's
// keys come from a list or from a KeyFile a record at a time, and a live
// keyspace of any size is read a page at a time.
type Merger struct {
	next                  func() (KeyRev, error) // the next snapshot key; io.EOF after the last
	cur                   KeyRev
	have                  bool // cur is the snapshot key not yet matched
	err                   error
	last                  string
	seen                  int64
	dropped, back, rolled []string
}

// NewMerger starts a comparison with the snapshot's keys, sorted by key.
func NewMerger(snap []KeyRev) *Merger {
	return newMerger(func() (KeyRev, error) {
		if len(snap) == 0 {
			return KeyRev{}, io.EOF
		}
		k := snap[0]
		snap = snap[1:]
		return k, nil
	})
}

// NewStreamMerger starts a comparison with a snapshot's keys read from r.
func NewStreamMerger(r *KeyReader) *Merger { return newMerger(r.Next) }

func newMerger(next func() (KeyRev, error)) *Merger {
	m := &Merger{next: next}
	m.advance()
	return m
}

// advance reads the next snapshot key into cur.
func (m *Merger) advance() {
	if m.err != nil {
		m.have = false
		return
	}
	k, err := m.next()
	m.cur, m.have = k, err == nil
	if err != nil && err != io.EOF {
		m.err = err
	}
}

// Live takes the next live key; keys must come in strictly ascending order
// (etcd's), or the comparison would be wrong, so a key out of order is an error.
func (m *Merger) Live(l KeyRev) error {
	if m.seen > 0 && l.Key <= m.last {
		return fmt.Errorf("live key %q came after %q: the listing is not in key order", l.Key, m.last)
	}
	m.last = l.Key
	m.seen++
	for m.have && m.cur.Key < l.Key {
		m.back = append(m.back, m.cur.Key)
		m.advance()
	}
	if m.err != nil {
		return m.err
	}
	if m.have && m.cur.Key == l.Key {
		if m.cur.Mod != l.Mod {
			m.rolled = append(m.rolled, l.Key)
		}
		m.advance()
		return m.err
	}
	m.dropped = append(m.dropped, l.Key)
	return nil
}

// Seen is how many live keys were taken.
func (m *Merger) Seen() int64 { return m.seen }

// Err is why the snapshot's keys could not all be read; check it after Diff.
func (m *Merger) Err() error { return m.err }

// Diff ends the comparison: snapshot keys never met are brought back.
func (m *Merger) Diff(snapRev, liveRev int64) Diff {
	for m.have {
		m.back = append(m.back, m.cur.Key)
		m.advance()
	}
	return Diff{SnapshotRevision: snapRev, LiveRevision: liveRev, Gap: max(0, liveRev-snapRev),
		Dropped: group(m.dropped), BroughtBack: group(m.back), RolledBack: group(m.rolled)}
}
