package steps

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// Real clusters hold 10k–1M keys. One `etcdctl get --prefix ""` answer is a
// single JSON line that passes the 1 MiB a command's output is kept to
// (nodes.MaxCollect) at 7–8k keys, and its key names would flood the
// transcript. So the live keys are read in pages, all at the first page's
// revision (one consistent keyspace), each page merged into the diff and
// dropped (snapshot.Merger), and only a one-line summary is recorded. The
// snapshot's side streams too: its live keys, sorted by the child in
// bounded runs, are read from a temp file a record at a time (KeyFile).

// Page sizes: the first page is small; later ones are sized from the bytes
// per key seen so far to fill half the output cap, within these bounds.
const (
	firstPageKeys = 1000
	maxPageKeys   = 10000
	pageBytes     = nodes.MaxCollect / 2
)

var (
	// errPageTooBig: the page's output reached the cap (long key names): the
	// page is read again with half the keys.
	errPageTooBig = errors.New("the page's output reached the 1 MiB cap")
	// errCompacted: the listing's revision was compacted away between pages
	// (the apiservers compact every 5 minutes): the listing starts over.
	errCompacted = errors.New("the listing's revision was compacted while it was read")
)

// keysPageAction lists up to limit live keys of m's etcd, in key order from
// key from (inclusive; "" is the first key), at revision rev (0: the
// newest), from m's node with its TLS files. Keys only: values (secrets)
// never leave the node; and its output is data, kept out of the transcript.
func keysPageAction(c *Context, m Member, from string, rev int64, limit int) Action {
	args := append(etcdctlArgs(m, first(m.ClientURLs)), "--command-timeout=60s", "get", "--from-key", "--keys-only",
		"--limit", strconv.Itoa(limit), "-w", "json")
	if rev > 0 {
		args = append(args, "--rev", strconv.FormatInt(rev, 10))
	}
	// "--": a key that starts with "-" is a key, not a flag.
	args = append(args, "--", from)
	return Action{Node: m.Node, What: "list a page of the live etcd keys of " + m.Name, Cmd: sudo(c.Cluster, args...), Quiet: true}
}

// pageFetch reads one page: up to limit keys from key from (inclusive) at
// revision rev (0: the newest); size is the bytes the page took.
type pageFetch func(ctx context.Context, from string, rev int64, limit int) (p snapshot.Page, size int, err error)

// listing is what a paged read of the keyspace saw.
type listing struct {
	Revision int64
	Keys     int64
	Pages    int
}

// pageKeys reads the whole keyspace through fetch, page after page at the
// first page's revision, handing each key to each in ascending order. The
// total must match what etcd counted at that revision.
func pageKeys(ctx context.Context, fetch pageFetch, each func(snapshot.KeyRev) error) (listing, error) {
	var l listing
	var count int64
	from, limit := "", firstPageKeys
	for {
		p, size, err := fetch(ctx, from, l.Revision, limit)
		if errors.Is(err, errPageTooBig) && limit > 2 {
			limit /= 2
			continue
		}
		if err != nil {
			return l, err
		}
		if l.Pages == 0 {
			l.Revision, count = p.Revision, p.Count
		}
		l.Pages++
		keys := p.Keys
		if from != "" && len(keys) > 0 && keys[0].Key == from {
			keys = keys[1:] // --from-key includes the last key of the page before
		}
		for _, k := range keys {
			if err := each(k); err != nil {
				return l, err
			}
			l.Keys++
		}
		if !p.More {
			break
		}
		if len(p.Keys) == 0 || p.Keys[len(p.Keys)-1].Key == from {
			return l, fmt.Errorf("etcd says more keys follow %q but the page gave none", from)
		}
		from, limit = p.Keys[len(p.Keys)-1].Key, nextPageKeys(size, len(p.Keys))
	}
	if l.Keys != count {
		return l, fmt.Errorf("listed %d keys but etcd counted %d at revision %d", l.Keys, count, l.Revision)
	}
	return l, nil
}

// nextPageKeys sizes the next page from this one's bytes per key; at least
// 2, since each page after the first starts with the key it left off at.
func nextPageKeys(size, keys int) int {
	if keys == 0 {
		return firstPageKeys
	}
	return min(max(pageBytes/(size/keys+1), 2), maxPageKeys)
}

// memberPages reads pages from m's etcd with keysPageAction.
func (c *Context) memberPages(m Member) pageFetch {
	return func(ctx context.Context, from string, rev int64, limit int) (snapshot.Page, int, error) {
		if strings.ContainsRune(from, 0) {
			return snapshot.Page{}, 0, fmt.Errorf("cannot page past key %q: it holds a NUL byte, which no command line can carry", from)
		}
		res, err := c.Exec1(ctx, keysPageAction(c, m, from, rev, limit))
		switch {
		case err != nil && strings.Contains(res.Stderr, "required revision has been compacted"):
			return snapshot.Page{}, 0, fmt.Errorf("%w: %w", errCompacted, err)
		case err != nil:
			return snapshot.Page{}, 0, err
		case len(res.Stdout) >= nodes.MaxCollect:
			return snapshot.Page{}, 0, errPageTooBig
		}
		p, err := snapshot.ParseEtcdctlPage([]byte(res.Stdout))
		return p, len(res.Stdout), err
	}
}

// diffWith compares snap with m's live keyspace as it streams in, the
// snapshot's keys read from their file a record at a time beside the live
// pages, so neither side is held whole; a listing whose revision is
// compacted away midway starts over (the file is read again), twice at most.
func (c *Context) diffWith(ctx context.Context, m Member, snap *snapshot.KeyFile) (snapshot.Diff, error) {
	for attempt := 1; ; attempt++ {
		d, l, err := diffOnce(ctx, c.memberPages(m), snap)
		if errors.Is(err, errCompacted) && attempt < 3 {
			continue
		}
		if err != nil {
			return snapshot.Diff{}, err
		}
		c.note(m.Node, fmt.Sprintf("listed %d live keys of %s in %d pages at revision %d (the key names are not recorded)",
			l.Keys, m.Name, l.Pages, l.Revision))
		return d, nil
	}
}

// diffOnce merges one paged listing with the snapshot's key file.
func diffOnce(ctx context.Context, fetch pageFetch, snap *snapshot.KeyFile) (snapshot.Diff, listing, error) {
	r, err := snap.Open()
	if err != nil {
		return snapshot.Diff{}, listing{}, err
	}
	defer r.Close()
	mg := snapshot.NewStreamMerger(r)
	l, err := pageKeys(ctx, fetch, mg.Live)
	if err != nil {
		return snapshot.Diff{}, l, err
	}
	d := mg.Diff(snap.Revision, l.Revision)
	if err := mg.Err(); err != nil {
		return snapshot.Diff{}, l, fmt.Errorf("read the snapshot's keys: %w", err)
	}
	return d, l, nil
}

// note records one line of the engine's own in the transcript and the log
// pane (a summary in place of output kept out of them).
func (c *Context) note(node, text string) { c.report().note(node, text) }
