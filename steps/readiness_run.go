package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/steps/journal"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// readiness is preflight's hook: after the snapshot is verified and before
// anything is copied, brought or locked on a node, it builds the readiness
// report, journals it (with every override used), and refuses to go on while
// a check keeps the gate shut. The etcd versions check is session 3's
// storage-version check and tool choice, folded in.
func (c *Context) readiness(ctx context.Context) error {
	r := c.buildReadiness(ctx, c.snapshotOnBastion(), "", c.Values.SnapshotSize, time.Now())
	verr := c.checkStorageVersion(c.snapshotOnBastion())
	r.Checks = append(r.Checks, c.versionsCheck(verr))
	if err := c.gateReadiness(&r); err != nil {
		return err
	}
	// Only now, with every check passed or overridden, may tools be
	// brought to the nodes.
	if err := c.decideTools(ctx, true); err != nil {
		return err
	}
	r.Checks[len(r.Checks)-1] = c.versionsCheck(nil)
	c.Values.Readiness = &r
	return c.SaveValues()
}

// gateReadiness applies the overrides of the cluster file and of this
// run's gates to r, reports and journals it, and returns a
// *ReadinessError while a check keeps the step-1 gate shut.
func (c *Context) gateReadiness(r *ReadinessReport) error {
	r.applyOverrides(c.readinessOverrides())
	c.reportReadiness(*r)
	if r.Err() != nil {
		return &ReadinessError{Report: *r}
	}
	return nil
}

// reportReadiness shows every check as engine checks, and journals each
// override as its own record naming the check.
func (c *Context) reportReadiness(r ReadinessReport) {
	for _, rc := range r.Checks {
		for _, n := range rc.Nodes {
			c.Check(n.Node, "readiness "+rc.Name, n.OK || rc.Overridden, n.Found)
		}
		detail := strings.Join(rc.Found, "; ")
		if rc.Problem != "" {
			detail += " => " + rc.Problem
		}
		c.Check("", "readiness "+rc.Name, !rc.Blocks(), detail)
		if rc.Overridden {
			_ = c.Journal(journal.Record{Kind: journal.KindCheck, Check: "readiness override " + rc.Name, State: "overridden",
				Why: c.overriddenWhy(rc.Name) + ": " + rc.Problem})
		}
	}
	c.Values.Readiness = &r
	_ = c.SaveValues()
}

// buildReadiness runs the checks that read the snapshot and the nodes, all
// read-only. local is the snapshot on the bastion ("" when there is none
// here: `check` with snapshot.on a node, or one it cannot read), skip why;
// size its size.
func (c *Context) buildReadiness(ctx context.Context, local, skip string, size int64, now time.Time) ReadinessReport {
	var r ReadinessReport
	var facts snapshot.Readiness
	var ferr error
	if local != "" {
		facts, ferr = snapshot.ReadinessFacts(local)
	}
	snapChecks := []struct {
		name, title string
		run         func() ReadinessCheck
	}{
		{CheckEncryption, "encryption keys", func() ReadinessCheck { return c.checkEncryption(ctx, facts) }},
		{CheckCAEra, "CA era", func() ReadinessCheck { return c.checkCAEra(ctx, facts) }},
	}
	for _, sc := range snapChecks {
		switch {
		case local == "":
			r.Checks = append(r.Checks, ReadinessCheck{Name: sc.name, Title: sc.title, Skipped: skip})
		case ferr != nil:
			r.Checks = append(r.Checks, ReadinessCheck{Name: sc.name, Title: sc.title, Problem: fmt.Sprintf("cannot read the snapshot's values: %v", ferr)})
		default:
			r.Checks = append(r.Checks, sc.run())
		}
	}
	r.Checks = append(r.Checks, c.checkCertificates(ctx, now))
	if size > 0 {
		r.Checks = append(r.Checks, c.checkQuotaDisk(ctx, size))
	} else {
		r.Checks = append(r.Checks, ReadinessCheck{Name: CheckQuotaDisk, Title: "quota and disk", Skipped: "the snapshot's size is known once preflight reads it"})
	}
	switch {
	case local == "":
		r.Checks = append(r.Checks, ReadinessCheck{Name: CheckAutomation, Title: "automation", Skipped: skip})
	case ferr != nil:
		r.Checks = append(r.Checks, ReadinessCheck{Name: CheckAutomation, Title: "automation", Problem: fmt.Sprintf("cannot read the snapshot's values: %v", ferr)})
	default:
		r.Checks = append(r.Checks, checkAutomation(facts))
	}
	return r
}

// versionsCheck folds session 3's storage-version check and tool choice
// into the report: verr is checkStorageVersion's verdict.
func (c *Context) versionsCheck(verr error) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckEtcdVersions, Title: "the snapshot's storage version is not newer than any member's etcd", OK: verr == nil, NoOverride: true}
	for _, m := range c.members() {
		found := "etcd " + m.EtcdVersion + " (" + m.EtcdVersionFrom + ")"
		if m.Etcdutl != "" && m.Etcdutl != PhEtcdutl {
			found += "; restores with " + m.Etcdutl
		}
		rc.Nodes = append(rc.Nodes, ReadinessNode{Node: m.Node, OK: verr == nil, Found: found})
	}
	if verr != nil {
		rc.Problem = verr.Error()
	}
	return rc
}

// CheckReadiness builds the readiness report read-only for `etcd-dr check`:
// the snapshot's checks when it lies on the bastion, the nodes' always. It
// brings nothing and takes no lock.
func CheckReadiness(ctx context.Context, cl *config.Cluster, exec Executor) (ReadinessReport, error) {
	c := &Context{Cluster: cl, Exec: exec}
	// The disk is measured where the restore would put the new data dir
	// (etcd.restoredDataDir), as preflight's decide() fixes it, not under
	// the default's /var/lib.
	if dir, err := RenderDataDir(cl.Etcd.RestoredDataDir, time.Now()); err == nil {
		c.Values.DataDir = dir
	}
	if err := c.readInventory(ctx); err != nil {
		return ReadinessReport{}, err
	}
	if err := c.readEtcdVersions(ctx); err != nil {
		return ReadinessReport{}, err
	}
	local, skip := "", "the snapshot lies on "+c.snapshotHolder()+": preflight reads it"
	var size int64
	if c.fromMember() { // source_member.go
		skip = "the snapshot is a member's data (snapshot.from): preflight reads and ranks the members' dbs"
	} else if c.snapshotHolder() == "" {
		info, err := snapshot.Verify(c.Cluster.Snapshot.Path)
		if err == nil {
			local, size = c.Cluster.Snapshot.Path, info.Size
		} else {
			skip = "the snapshot cannot be read (preflight refuses it): " + err.Error()
		}
	}
	r := c.buildReadiness(ctx, local, skip, size, time.Now())
	var verr error
	if local != "" {
		verr = c.checkStorageVersion(local)
	}
	r.Checks = append(r.Checks, c.versionsCheck(verr))
	r.applyOverrides(c.Cluster.Readiness.Override)
	return r, nil
}

// readinessFacts show the report at the step-1 gate: what was checked
// before the first destructive step, and every override.
func readinessFacts(c *Context) []string {
	if c.Values.Readiness == nil {
		return nil
	}
	return c.Values.Readiness.Summary()
}

// readinessPlan lists the reads the readiness report makes on node, for
// `plan` and the preflight gate: files named by flags are read in preflight,
// so they show as placeholders until then.
func (c *Context) readinessPlan(node string, cp, member bool) []Action {
	var out []Action
	quiet := func(file, what string) Action {
		return Action{Node: node, What: what, ReadOnly: true, Quiet: true, Cmd: sudo(c.Cluster, "cat", "--", file)}
	}
	if cp {
		out = append(out,
			quiet("<--encryption-provider-config of "+node+": read from its kube-apiserver.yaml>", "read the key names of the apiserver's encryption config (its content is never shown)"),
			quiet("<--client-ca-file of "+node+": read from its kube-apiserver.yaml, /etc/kubernetes/pki/ca.crt by default>", "read the cluster CA for its fingerprint"))
	}
	if member {
		out = append(out,
			quiet("<--cert-file of "+node+": read from "+c.etcdSource()+">", "read the member's server certificate to check it covers its client URLs"),
			quiet("<--peer-cert-file of "+node+": read from "+c.etcdSource()+">", "read the member's peer certificate to check it covers its peer URLs"))
	}
	return out
}
