package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
	"github.com/etcd-dr/etcd-dr/steps/termsafe"
)

func newSnapshotCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "snapshot",
		Short: "Verify and inspect etcd snapshot files",
	}
	c.AddCommand(newSnapshotSaveCmd(), newSnapshotStatusCmd(), newSnapshotInspectCmd(), newSnapshotDiffCmd())
	return c
}

func outputFlag(c *cobra.Command, dst *string) {
	c.Flags().StringVarP(dst, "output", "o", "text", "output format: text or json")
}

func checkOutput(o string) error {
	if o != "text" && o != "json" {
		return usageErr("-o %s: want text or json", o)
	}
	return nil
}

// writeJSON writes v as indented JSON. Key names and node text are data
// and stay exact, but C1 controls and bidi overrides, which encoding/json
// passes raw, are written as \u escapes: the same string to a decoder,
// and nothing a terminal acts on when the output is read on one.
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, termsafe.JSON(b.String()))
	return err
}

func newSnapshotStatusCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "status FILE",
		Short: "Verify a snapshot: sha256 trailer, sidecar, bolt integrity, revision, keys, size",
		Long: `status verifies a snapshot file the way preflight does, and changes nothing:
the sha256 trailer that 'etcdctl snapshot save' appends must be present and match
(etcdutl's own status does not check it), the FILE.meta.json sidecar written by
'etcd-dr snapshot save' must match when present, and the bolt database must be a
sound etcd database. A damaged file is refused with a one-line reason and exit 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			info, err := snapshot.Verify(args[0])
			if err != nil {
				return failErr(err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			for _, l := range info.Card() {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return nil
		},
	}
	outputFlag(c, &output)
	return c
}

func newSnapshotInspectCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Summarise the Kubernetes objects in a snapshot, per resource and namespace",
		Long: `inspect decodes the Kubernetes keyspace of a snapshot
(/registry/<resource>/<namespace>/<name>) read-only, and prints the number of
objects per resource and per namespace and the newest revision, so the operator
knows what a restore brings back. It verifies FILE first, as 'status' does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			// Inspect alone reads the keys without the trailer and sidecar
			// checks; a summary of a damaged file would be believed.
			if _, err := snapshot.Verify(args[0]); err != nil {
				return failErr(err)
			}
			sum, err := snapshot.Inspect(args[0])
			if err != nil {
				return failErr(err)
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), sum)
			}
			writeSummary(cmd.OutOrStdout(), sum)
			return nil
		},
	}
	outputFlag(c, &output)
	return c
}

func writeSummary(w io.Writer, s snapshot.Summary) {
	fmt.Fprintf(w, "revision %d, %d live keys (%d outside /registry/)\n\n", s.Revision, s.Keys, s.Other)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tOBJECTS\tNEWEST REV\tNAMESPACES")
	for _, r := range s.Resources {
		// Names come from the snapshot's keys: anyone who could write a
		// key could put escapes in them.
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", termsafe.Line(r.Name), r.Keys, r.NewestModRevision, termsafe.Line(namespaces(r.Namespaces)))
	}
	tw.Flush()
}

// namespaces renders "ns=count" pairs sorted by namespace ("-" when cluster-scoped).
func namespaces(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for i, k := range ks {
		ks[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(ks, " ")
}

func newSnapshotDiffCmd() *cobra.Command {
	var output, file string
	var sf sshFlags
	c := &cobra.Command{
		Use:   "diff FILE -f cluster.yaml",
		Short: "What restoring FILE would drop, bring back or roll back in the live etcd",
		Long: `diff compares a snapshot with the live etcd, read-only: it verifies FILE as
'snapshot status' does, lists the live keys (names and revisions, never values)
with etcdctl on an etcd member over SSH, with the member's own TLS files (the
node's own etcdctl when sudo finds one of its etcd's minor version, else the
bastion's, brought to /var/lib/etcd-dr/tools/snapshot-diff/ as preflight does), and
groups by resource and namespace the keys a restore would drop (created after
the snapshot), bring back (deleted after it) and roll back (changed after it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if _, err := snapshot.Verify(args[0]); err != nil {
				return failErr(err)
			}
			cl, err := loadCluster(file, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cl.Snapshot.Path = args[0]
			r, err := sf.newRunner(cl, cmd.ErrOrStderr())
			if err != nil {
				return usageErr("%v", err)
			}
			defer r.Close()
			d, err := steps.SnapshotDiff(context.Background(), cl, r)
			if err != nil {
				return failErr(fmt.Errorf("snapshot diff %s: %w; nothing was changed", args[0], err))
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), d)
			}
			writeDiff(cmd.OutOrStdout(), d)
			return nil
		},
	}
	fileFlag(c, &file)
	sf.register(c)
	outputFlag(c, &output)
	return c
}

func writeDiff(w io.Writer, d snapshot.Diff) {
	fmt.Fprintf(w, "snapshot revision %d, live revision %d\n%s\n", d.SnapshotRevision, d.LiveRevision, d.Sentence())
	for _, sec := range []struct {
		title  string
		groups []snapshot.Group
	}{
		{"DROPPED: created after the snapshot, the restore deletes them", d.Dropped},
		{"BROUGHT BACK: deleted after the snapshot, the restore revives them", d.BroughtBack},
		{"ROLLED BACK: changed after the snapshot, the restore puts back the old value", d.RolledBack},
	} {
		if len(sec.groups) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", sec.title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RESOURCE\tNAMESPACE\tNAMES")
		for _, g := range sec.groups {
			res, ns := g.Resource, g.Namespace
			if res == "" {
				res = "(outside /registry/)"
			}
			if ns == "" {
				ns = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", termsafe.Line(res), termsafe.Line(ns), termsafe.Line(strings.Join(g.Names, " ")))
		}
		tw.Flush()
	}
}

// saveFlags are the flags of snapshot save.
type saveFlags struct {
	file, out, cacert, cert, key string
	ssh                          sshFlags
}

func newSnapshotSaveCmd() *cobra.Command {
	var f saveFlags
	c := &cobra.Command{
		Use:   "save -f cluster.yaml [--out FILE]",
		Short: "Save a snapshot from a healthy etcd member, with a sidecar FILE.meta.json",
		Long: `save takes a snapshot with the etcd client from the first etcd member that
answers, using the client TLS files named in the member's manifest (read over
SSH) unless --cacert, --cert and --key are given. The file appears only whole,
verified and synced, with FILE.meta.json next to it (sha256 of the whole file,
revision, keys, members, cluster ID, time, source member), which 'status' and
preflight check later. An existing FILE or sidecar is never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSave(cmd, f) },
	}
	fileFlag(c, &f.file)
	c.Flags().StringVar(&f.out, "out", "", "snapshot file to write (default ./<cluster>-<UTC time>.db)")
	c.Flags().StringVar(&f.cacert, "cacert", "", "etcd CA certificate on this machine (instead of the member's)")
	c.Flags().StringVar(&f.cert, "cert", "", "etcd client certificate on this machine")
	c.Flags().StringVar(&f.key, "key", "", "etcd client key on this machine")
	f.ssh.register(c)
	return c
}

func runSave(cmd *cobra.Command, f saveFlags) error {
	given, err := givenTLS(f)
	if err != nil {
		return err
	}
	cl, err := loadCluster(f.file, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if f.out == "" {
		f.out = fmt.Sprintf("%s-%s.db", cl.Name, time.Now().UTC().Format("20060102T150405Z"))
	}
	// Refused before any node is asked, so the one line says why.
	for _, p := range []string{f.out, snapshot.MetaPath(f.out)} {
		if _, err := os.Lstat(p); err == nil {
			return failErr(fmt.Errorf("snapshot save: %s already exists: refusing to overwrite it; choose another --out", p))
		}
	}
	r, err := f.ssh.newRunner(cl, cmd.ErrOrStderr())
	if err != nil {
		return usageErr("%v", err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	info, err := steps.SaveSnapshot(ctx, cl, r, f.out, given)
	if err != nil {
		return failErr(fmt.Errorf("snapshot save %s: %w", f.out, err))
	}
	for _, l := range info.Card() {
		fmt.Fprintln(cmd.OutOrStdout(), l)
	}
	return nil
}

// givenTLS reads --cacert/--cert/--key: all three or none.
func givenTLS(f saveFlags) (*tls.Config, error) {
	if f.cacert == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	if f.cacert == "" || f.cert == "" || f.key == "" {
		return nil, usageErr("--cacert, --cert and --key go together: pass all three, or none to use the member's own files")
	}
	var pem [3][]byte
	for i, p := range []string{f.cacert, f.cert, f.key} {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		pem[i] = b
	}
	t, err := snapshot.ClientTLS(pem[0], pem[1], pem[2], "this machine")
	if err != nil {
		return nil, usageErr("%v", err)
	}
	return t, nil
}
