package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps"
)

// addEtcdTools runs preflight's tool choice read-only on the members that
// answered SSH and sudo, and attaches it to their rows; a member without a
// usable etcdutl or etcdctl fails the check, as it would fail preflight.
func addEtcdTools(ctx context.Context, cl *config.Cluster, exec steps.Executor, rows []nodeCheck) {
	for _, r := range rows {
		if r.Node != "" && !r.OK && slices.Contains(r.Roles, config.RoleEtcd) {
			return // the inventory needs every member: the SSH or sudo problem is already shown
		}
	}
	got, err := steps.CheckEtcdTools(ctx, cl, exec)
	for i := range rows {
		if !slices.Contains(rows[i].Roles, config.RoleEtcd) {
			continue
		}
		if err != nil {
			rows[i].Problems = append(rows[i].Problems, "etcd tools: "+err.Error())
			rows[i].OK = false
			continue
		}
		for j := range got {
			if got[j].Node == rows[i].Node {
				rows[i].EtcdTools = &got[j]
				if got[j].Err != "" {
					rows[i].Problems = append(rows[i].Problems, got[j].Err)
					rows[i].OK = false
				}
			}
		}
	}
}

// writeEtcdTools prints, per member, the etcd and the tools a restore uses.
func writeEtcdTools(w io.Writer, rs []nodeCheck) {
	for _, r := range rs {
		mt := r.EtcdTools
		if mt == nil || mt.Err != "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: etcd %s (%s)\n", r.Node, mt.EtcdVersion, mt.From)
		for _, u := range mt.Tools {
			if u.Bastion == "" {
				fmt.Fprintf(w, "  %s %s: the node's own, found by sudo -n -- %s\n", u.Name, u.Version, u.Name)
				continue
			}
			fmt.Fprintf(w, "  %s %s: would be brought from the bastion (%s) to %s; the node's own %s\n",
				u.Name, u.Version, u.Bastion, u.Argv0, u.Host)
		}
	}
}
