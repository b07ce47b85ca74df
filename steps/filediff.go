package steps

import (
	"context"
	"path"
	"strings"
	"sync"
	"time"

	udiff "github.com/aymanbagabas/go-udiff"

	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// FileChange says which file an action changes and how, so that a gate and
// `plan` show the change as a unified diff per node rather than only
// "write etcd.yaml": the operator checks the very lines that will change.
type FileChange struct {
	Path string // the file written, or where a moved file goes
	From string // a move's source; empty for an edit in place
	// Edit makes the new content from the content on the node now, read
	// from the first of ReadFrom that exists (a file still in the
	// manifests dir at the gate is parked before the step edits it).
	Edit     func(old []byte) ([]byte, error)
	ReadFrom []string
	// Sketch is [before, after]: the lines that change, as `plan` shows
	// them while the file cannot be read or a value is not decided yet
	// (they hold placeholders then).
	Sketch [2]string
}

// moveChange is a file moved whole (park, unpark): its content is not
// changed, only where the kubelet sees it.
func moveChange(from, to string) *FileChange {
	return &FileChange{Path: to, From: from}
}

// moveDiff shows a move as git does: no content lines, since none change.
func moveDiff(node string, ch *FileChange) FileDiff {
	return FileDiff{Node: node, Path: ch.Path, From: ch.From,
		Unified: "rename from " + ch.From + "\nrename to " + ch.Path + "\n"}
}

// fileDiff is the unified diff of before → after on node. Both sides are
// scrubbed first (a manifest holds --token=, an env file a password, an
// encryption config its keys): the diff is shown and journaled, so no
// secret may be in it; scrubbing each side rather than the diff keeps the
// scrubber's view of whole YAML documents (a block scalar spans lines).
func fileDiff(node, file string, before, after []byte, placeholder bool) FileDiff {
	b, a := withNewline(Scrub(string(before))), withNewline(Scrub(string(after)))
	u := udiff.Unified(file, file, b, a)
	if placeholder {
		u = changedLinesOnly(u) // a sketch's line numbers would be invented
	}
	d := FileDiff{Node: node, Path: file, Unified: u, Placeholder: placeholder}
	d.Added, d.Removed = countChanged(u)
	return d
}

func withNewline(s string) string {
	if s == "" || strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// changedLinesOnly keeps a diff's - and + lines, without its headers.
func changedLinesOnly(u string) string {
	var b strings.Builder
	for l := range diffBody(u) {
		if strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// diffBody yields a unified diff's lines after its "---"/"+++" headers
// (a removed line may itself start with "--").
func diffBody(u string) func(func(string) bool) {
	return func(yield func(string) bool) {
		inHunk := false
		for l := range strings.SplitSeq(u, "\n") {
			if !inHunk {
				inHunk = strings.HasPrefix(l, "@@")
				if inHunk || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
					continue
				}
				inHunk = true // no headers: a sketch
			}
			if !yield(l) {
				return
			}
		}
	}
}

// countChanged counts the added and removed lines of a unified diff.
func countChanged(u string) (added, removed int) {
	for l := range diffBody(u) {
		switch {
		case strings.HasPrefix(l, "+"):
			added++
		case strings.HasPrefix(l, "-"):
			removed++
		}
	}
	return added, removed
}

// diffsOf lists the file changes of actions, one per node and file, in
// the actions' order. With read and an executor it reads each edited file as it is
// now (a quiet, read-only cat: the content goes to the diff, scrubbed,
// never to the log) and applies the action's edit; a file that cannot be
// read, an edit that cannot be made yet, or a plan shows the sketch. The
// reads run in parallel and briefly (diffReadTimeout): a frozen node must
// not hold the gate back.
func (c *Context) diffsOf(ctx context.Context, actions []Action, read bool) []FileDiff {
	var shown []Action
	for _, a := range actions {
		ch := a.Changes
		if ch == nil || ch.From == "" && ch.Edit == nil && ch.Sketch == [2]string{} {
			continue // no change to show: a write whose edit is made elsewhere
		}
		shown = append(shown, a)
	}
	out := make([]FileDiff, len(shown)) // allocated whole: the reads fill it in parallel
	var wg sync.WaitGroup
	for i, a := range shown {
		if a.Changes.From != "" {
			out[i] = moveDiff(a.Node, a.Changes)
			continue
		}
		wg.Go(func() { out[i] = c.editDiff(ctx, a.Node, a.Changes, read) })
	}
	wg.Wait()
	return foldBounces(out)
}

// foldBounces shows a move followed at once by its reverse on the same
// node (step 5's park and unpark of a manifest) as one diff with Back set:
// one line per bounce, not a park and an unpark.
func foldBounces(ds []FileDiff) []FileDiff {
	out := make([]FileDiff, 0, len(ds))
	for i := 0; i < len(ds); i++ {
		d := ds[i]
		if d.From != "" && i+1 < len(ds) {
			if n := ds[i+1]; n.Node == d.Node && n.From == d.Path && n.Path == d.From {
				d.Back, d.Unified = true, d.Unified+n.Unified
				i++
			}
		}
		out = append(out, d)
	}
	return out
}

// diffReadTimeout bounds reading one manifest for a gate's diff: a file
// of a few KiB over an open SSH connection, so a node that does not answer
// in this long is frozen or gone, and the gate shows the sketch instead
// (the step itself then meets the node with its full timeouts).
const diffReadTimeout = 20 * time.Second

func (c *Context) editDiff(ctx context.Context, node string, ch *FileChange, read bool) FileDiff {
	sketch := fileDiff(node, ch.Path, []byte(ch.Sketch[0]), []byte(ch.Sketch[1]), true)
	if !read || c.Exec == nil || ch.Edit == nil || len(ch.ReadFrom) == 0 {
		return sketch
	}
	cat := readFirstAction(c, node, ch.ReadFrom)
	cat.Cmd.Timeout = diffReadTimeout
	res, err := c.Exec1(ctx, cat)
	if err != nil {
		sketch.Unread = err.Error()
		return sketch
	}
	after, err := ch.Edit([]byte(res.Stdout))
	if err != nil {
		sketch.Unread = "the edit cannot be made: " + err.Error()
		return sketch
	}
	return fileDiff(node, ch.Path, []byte(res.Stdout), after, false)
}

// readFirstAction prints the first of files that exists. Quiet: a
// manifest holds secrets and the operator reads it as a diff, not in the
// log pane.
func readFirstAction(c *Context, node string, files []string) Action {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = path.Base(f)
	}
	return Action{Node: node, What: "read " + strings.Join(names, " or ") + " to show the change at the gate",
		ReadOnly: true, Quiet: true,
		Cmd: shCmd(c.Cluster, `for f in "$@"; do if [ -f "$f" ]; then exec cat -- "$f"; fi; done; echo "none of $* exists" >&2; exit 1`, files...)}
}

// dataDirChange is the edit pointing m's etcd.yaml (or env file) from
// the data dir from to the data dir to (decided: to is known, not a
// placeholder). At step 2's gate etcd.yaml is still in the manifests dir,
// parked just before the edit.
func (c *Context) dataDirChange(m Member, from, to string, decided bool) *FileChange {
	file := c.etcdConfigFile()
	ch := &FileChange{Path: file, ReadFrom: []string{file}}
	if !c.systemd() {
		ch.ReadFrom = append(ch.ReadFrom, path.Join(c.Cluster.Etcd.ManifestsDir, etcdManifest))
	}
	if decided {
		ch.Edit = func(old []byte) ([]byte, error) { return c.pointDataDir(old, to) }
	}
	if c.systemd() {
		ch.Sketch = [2]string{"ETCD_DATA_DIR=" + from, "ETCD_DATA_DIR=" + to}
	} else {
		ch.Sketch = [2]string{"    path: " + from + "   # hostPath of the volume mounted at --data-dir",
			"    path: " + to + "   # hostPath of the volume mounted at --data-dir"}
	}
	return ch
}

// etcdServersChange is the edit of a parked apiserver manifest's
// --etcd-servers; at the gate the manifest is parked already (step 1).
func (c *Context) etcdServersChange(r repoint) *FileChange {
	file := c.parkedApiserver()
	want := strings.Join(r.want, ",")
	return &FileChange{Path: file,
		ReadFrom: []string{file, path.Join(c.Cluster.Etcd.ManifestsDir, apiserverManifest)},
		Edit: func(old []byte) ([]byte, error) {
			return manifest.Edit(old, manifest.SetFlag("etcd-servers", want))
		},
		Sketch: [2]string{"    - --etcd-servers=" + strings.Join(r.a.EtcdServers, ","), "    - --etcd-servers=" + want}}
}
