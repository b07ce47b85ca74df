package steps

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/manifest"
)

// The real kubelet's edges the procedure must survive (pkg/kubelet/config
// and kubelet.go, v1.35):
//   - every non-dot file in the manifests dir is a pod, kept in a store
//     keyed by namespace/name (config/file.go): of two files naming one pod
//     the one stored last runs (at a relist, the later in name order), so
//     a stray etcd.yaml.bak replaces the running etcd when the kubelet reads
//     it, and parking etcd.yaml leaves etcd running from the .bak: etcd
//     never stops and step 2 waits out its deadline, after the apiservers
//     are already down. Removing the .bak deletes the pod until the next
//     relist (20 s): etcd stops meanwhile.
//   - a kubelet that started while no apiserver answered never marks its
//     config sources ready and skips every pod delete: a parked pod keeps
//     running until the kubelet syncs or its container is stopped by hand.

// StillRunning is a process check's finding: name still runs on node.
type StillRunning struct {
	Node, Process string
	PIDs          []string
}

func (e *StillRunning) Error() string {
	return fmt.Sprintf("%s still runs (pid %s)", e.Process, strings.Join(e.PIDs, " "))
}

// ParkedPodStillRuns is a parked static pod whose process never stopped:
// the kubelet did not act on the removed manifest.
type ParkedPodStillRuns struct {
	Node, Pod, ManifestsDir string
	Err                     error
}

func (e *ParkedPodStillRuns) Error() string {
	return fmt.Sprintf("%v. The kubelet on %s did not stop the %s static pod after its manifest was parked. "+
		"Likely causes: the kubelet's config sources never synced (it started while no apiserver answered and skips every pod delete; "+
		"it logs \"sources aren't ready\" only at --v=2 or more, so a default kubelet's journal may not say so), or another file in %s declares pod name %q. "+
		"Fallback: stop the container by hand (`sudo crictl stop $(sudo crictl ps -q --name '^%s$')`), then retry this step; "+
		"restarting the kubelet helps only once an apiserver answers it",
		e.Err, e.Node, e.Pod, e.ManifestsDir, e.Pod, e.Pod)
}

func (e *ParkedPodStillRuns) Unwrap() error { return e.Err }

// parkedPodGone wraps a wait for a parked pod's process to end: when the
// wait ended because the process still runs, the error names the likely
// causes and the fallback.
func (c *Context) parkedPodGone(node, pod string, err error) error {
	var sr *StillRunning
	if err == nil || !errors.As(err, &sr) {
		return err
	}
	return &ParkedPodStillRuns{Node: node, Pod: pod, ManifestsDir: c.Cluster.Etcd.ManifestsDir, Err: err}
}

// parkedManifests are the files the procedure parks on node.
func (c *Context) parkedManifests(node config.Node) []string {
	var out []string
	if node.Has(config.RoleEtcd) && !c.systemd() {
		out = append(out, etcdManifest)
	}
	if node.Has(config.RoleControlPlane) {
		out = append(out, apiserverManifest)
		for _, comp := range flushedComponents {
			out = append(out, comp+".yaml")
		}
	}
	return out
}

// manifestsDumpScript prints every non-dot regular file of the manifests
// dir $1, each after a line "$2 NAME", as the kubelet reads them.
const manifestsDumpScript = `set -e; cd -- "$1"; for f in *; do [ -f "$f" ] || continue; printf '%s %s\n' "$2" "$f"; head -c 1048576 -- "$f"; echo; done`

func (c *Context) manifestsDump(node string) Action {
	return Action{Node: node, What: "read every file in " + c.Cluster.Etcd.ManifestsDir +
		": the kubelet runs each as a pod, and a second file naming a parked pod would restart it",
		Cmd: shCmd(c.Cluster, manifestsDumpScript, c.Cluster.Etcd.ManifestsDir, manifestsMark)}
}

const manifestsMark = "==etcd-dr-manifest=="

// DuplicatePod is a preflight finding: File declares the same pod name as
// Parked, a manifest the procedure parks.
type DuplicatePod struct {
	Node, Dir, Pod, Parked, File string
}

func (d DuplicatePod) Error() string {
	return fmt.Sprintf("%s: %s declares pod %q like %s, which this procedure parks: the kubelet would start %s again from it "+
		"and the %s process would never stop, after the apiservers are already down. This is what a backup copy made "+
		"in place leaves behind (`cp %s %s`). Move %s out of %s (e.g. to /root), then run again. "+
		"The kubelet may be running %s from that copy now: moving it out stops %s until the kubelet next reads the "+
		"directory (up to 20 s) and starts it from %s; do it on one node at a time and wait for %s to run again",
		d.Node, path.Join(d.Dir, d.File), d.Pod, d.Parked, d.Pod, d.Pod, d.Parked, d.File, d.File, d.Dir,
		d.Pod, d.Pod, d.Parked, d.Pod)
}

// checkDuplicatePods refuses, before anything is parked, when a node's
// manifests dir holds another file naming a pod the procedure parks.
func (c *Context) checkDuplicatePods(ctx context.Context) error {
	var targets []string
	for _, n := range c.Cluster.Nodes {
		if len(c.parkedManifests(n)) > 0 {
			targets = append(targets, n.Name)
		}
	}
	return c.ForEachNode(ctx, targets, func(ctx context.Context, node string) error {
		// Not the transcript: every manifest in full is noise there.
		res, err := c.execTo(ctx, c.manifestsDump(node), func(nodes.Line) {})
		if err != nil {
			return err
		}
		n, _ := c.Cluster.Node(node)
		dups := duplicatePods(node, c.Cluster.Etcd.ManifestsDir, c.parkedManifests(n), splitManifests(res.Stdout))
		c.Check(node, "no second manifest names a pod the procedure parks", len(dups) == 0, "")
		errs := make([]error, len(dups))
		for i, d := range dups {
			errs[i] = d
		}
		return errors.Join(errs...)
	})
}

// splitManifests parses manifestsDumpScript's output into file → content.
func splitManifests(out string) map[string]string {
	files := map[string]string{}
	var cur string
	var b strings.Builder
	flush := func() {
		if cur != "" {
			files[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(line, manifestsMark+" "); ok {
			flush()
			cur = strings.TrimSuffix(name, "\n")
			continue
		}
		b.WriteString(line)
	}
	flush()
	return files
}

// duplicatePods finds files other than the parked ones that declare a
// parked manifest's pod name. Files that do not parse are no pods to the
// kubelet either.
func duplicatePods(node, dir string, parked []string, files map[string]string) []DuplicatePod {
	names := map[string]string{} // file → pod name
	for f, data := range files {
		if p, err := manifest.Parse([]byte(data)); err == nil && p.Name != "" {
			names[f] = p.Name
		}
	}
	var out []DuplicatePod
	for _, pf := range parked {
		pod, ok := names[pf]
		if !ok {
			continue
		}
		for f, name := range names {
			if f != pf && name == pod && !slices.Contains(parked, f) {
				out = append(out, DuplicatePod{Node: node, Dir: dir, Pod: pod, Parked: pf, File: f})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}
