package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// versionInfo is what `etcd-dr version` reports: which build this is (so an
// incident report can name the exact revision that ran) and what it targets.
type versionInfo struct {
	Version          string `json:"version"`            // the module version, or toolVersion for a build from a clone
	Revision         string `json:"revision,omitempty"` // VCS revision the binary was built from
	RevisionTime     string `json:"revisionTime,omitempty"`
	Modified         bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Go               string `json:"go"`
	Platform         string `json:"platform"`
	TargetEtcd       string `json:"targetEtcd"`
	TargetKubernetes string `json:"targetKubernetes"`
}

// buildVersion reads the version the Go toolchain stamped into the binary:
// the module version for `go install …@vX`, and the VCS revision for a
// build from a clone (where the module version is "(devel)").
func buildVersion() versionInfo {
	v := versionInfo{Version: toolVersion, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		TargetEtcd: targetEtcd, TargetKubernetes: targetKubernetes}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v.Version = mv
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.RevisionTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one-line form `--version` prints.
func (v versionInfo) String() string {
	s := v.Version
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev
		if v.Modified {
			s += ", modified"
		}
		s += ")"
	}
	return s
}

func newVersionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print etcd-dr's version, the revision it was built from, and the etcd and Kubernetes versions it targets",
		Example: `  etcd-dr version
  etcd-dr version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			w := cmd.OutOrStdout()
			switch output {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "text":
				fmt.Fprintf(w, "etcd-dr    %s (%s, %s)\n", v, v.Go, v.Platform)
				if v.RevisionTime != "" {
					fmt.Fprintf(w, "built from %s at %s\n", v.Revision, v.RevisionTime)
				}
				fmt.Fprintf(w, "etcd       %s\n", v.TargetEtcd)
				fmt.Fprintf(w, "kubernetes %s\n", v.TargetKubernetes)
				return nil
			}
			return usageErr("-o %q: want text or json", output)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
