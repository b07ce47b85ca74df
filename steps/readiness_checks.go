package steps

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/etcd-dr/etcd-dr/config"
	"github.com/etcd-dr/etcd-dr/nodes"
	"github.com/etcd-dr/etcd-dr/nodes/manifest"
	"github.com/etcd-dr/etcd-dr/steps/snapshot"
)

// defaultQuota is etcd's --quota-backend-bytes when unset or 0 (2 GiB).
const defaultQuota = 2 << 30

// readQuiet reads a file on a node under sudo without its content reaching
// the log, transcript or journal (Action.Quiet): encryption configs hold
// key secrets; certificates are public but long.
func (c *Context) readQuiet(ctx context.Context, node, file, what string) ([]byte, error) {
	res, err := c.Exec1(ctx, Action{Node: node, What: what, ReadOnly: true, Quiet: true, Cmd: sudo(c.Cluster, "cat", "--", file)})
	return []byte(res.Stdout), err
}

// apiserverPod reads and parses a control-plane node's kube-apiserver manifest.
func (c *Context) apiserverPod(ctx context.Context, node string) (*manifest.StaticPod, error) {
	file := path.Join(c.Cluster.Etcd.ManifestsDir, apiserverManifest)
	data, err := c.readQuiet(ctx, node, file, "read "+file+" for the readiness report")
	if err != nil {
		return nil, err
	}
	p, err := manifest.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", node, file, err)
	}
	return p, nil
}

// hostFileOf is the node's path of a file a static pod's flag names.
func hostFileOf(p *manifest.StaticPod, flag, def string) (string, bool) {
	v, ok := p.Flag(flag)
	if !ok || v == "" {
		if def == "" {
			return "", false
		}
		v = def
	}
	h, _ := p.HostPathOf(v)
	return h, true
}

// encryptionConfig is the part of an EncryptionConfiguration the check
// reads: key names, never their secrets (not even decoded).
type encryptionConfig struct {
	Resources []struct {
		Resources []string `yaml:"resources"`
		Providers []map[string]struct {
			Name string `yaml:"name"`
			Keys []struct {
				Name string `yaml:"name"`
			} `yaml:"keys"`
		} `yaml:"providers"`
	} `yaml:"resources"`
}

// EncryptionKeyNames lists "provider:key" for every key an
// EncryptionConfiguration holds (kms providers by their name), as the
// apiserver writes them into its prefix. A parse error says only where:
// the YAML library's message can quote the line, which may be a secret.
func EncryptionKeyNames(data []byte) ([]string, error) {
	var cfg encryptionConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("not a valid EncryptionConfiguration (details withheld: they can quote a key)")
	}
	var out []string
	for _, r := range cfg.Resources {
		for _, p := range r.Providers {
			for prov, v := range p {
				if prov == "kms" && v.Name != "" {
					out = append(out, "kms:"+v.Name)
				}
				for _, k := range v.Keys {
					out = append(out, prov+":"+k.Name)
				}
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// checkEncryption: every key the snapshot's values were written with must be
// in every apiserver's --encryption-provider-config, or the restored
// objects cannot be read.
func (c *Context) checkEncryption(ctx context.Context, facts snapshot.Readiness) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckEncryption, Title: "every encryption key of the snapshot is in every apiserver's encryption config", OK: true}
	for _, k := range snapshot.SortedKeys(facts.Encrypted) {
		rc.Found = append(rc.Found, fmt.Sprintf("snapshot: key %s encrypts %s", k, countsOf(facts.Encrypted[k])))
	}
	if len(facts.Encrypted) == 0 {
		rc.Found = append(rc.Found, "snapshot: no value is encrypted at rest")
	}
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		p, err := c.apiserverPod(ctx, n.Name)
		if err != nil {
			rc.node(n.Name, false, "cannot read the apiserver manifest: %v", err)
			continue
		}
		file, ok := hostFileOf(p, "encryption-provider-config", "")
		var have []string
		if ok {
			data, err := c.readQuiet(ctx, n.Name, file, "read the key names of "+file+" (its content is never shown)")
			if err == nil {
				have, err = EncryptionKeyNames(data)
			}
			if err != nil {
				rc.node(n.Name, false, "%s: %v", file, err)
				continue
			}
		}
		var missing []string
		for _, k := range snapshot.SortedKeys(facts.Encrypted) {
			if !contains(have, k) {
				missing = append(missing, k)
			}
		}
		switch {
		case len(missing) > 0 && !ok:
			rc.node(n.Name, false, "no --encryption-provider-config: cannot read %s", strings.Join(missing, ", "))
		case len(missing) > 0:
			rc.node(n.Name, false, "%s lacks key %s (has %s)", file, strings.Join(missing, ", "), listOr(have, "none"))
		case ok:
			rc.node(n.Name, true, "%s has %s", file, listOr(have, "no key"))
		default:
			rc.node(n.Name, true, "no --encryption-provider-config")
		}
		for _, k := range missing {
			rc.fail("%s cannot decrypt key %s, which encrypts %s in the snapshot: they would be unreadable after the restore; "+
				"put key %s back into %s's encryption config (as a read-only provider after the current key), restart nothing yet, and run preflight again",
				n.Name, k, countsOf(facts.Encrypted[k]), k, n.Name)
		}
	}
	return rc
}

// checkCAEra compares the CA the snapshot's kube-root-ca.crt ConfigMaps
// carry with each control-plane node's cluster CA (--client-ca-file).
//
// What a CA replaced since the snapshot does to a restore (read from the
// controller-manager's sources): the certificates and kubeconfigs on the
// nodes are of the new CA's era and stay right; what the snapshot brings back
// is of the old era. kube-controller-manager's root-ca-cert-publisher
// rewrites every kube-root-ca.crt ConfigMap from its --root-ca-file when it
// starts (step 5 restarts it), and its tokens controller the ca.crt of
// legacy token Secrets; until then pods reading them cannot verify the
// apiserver. kube-public/cluster-info (kubeadm's discovery kubeconfig) holds
// the old CA too and no controller rewrites it. Putting the old CA back
// instead would refuse every certificate issued since. Service-account tokens
// are signed by sa.key, not the CA: the CA alone does not void them.
func (c *Context) checkCAEra(ctx context.Context, facts snapshot.Readiness) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckCAEra, Title: "the snapshot's kube-root-ca.crt ConfigMaps carry the control plane's CA", OK: true}
	snapFPs := snapshot.SortedKeys(facts.RootCAs)
	for _, fp := range snapFPs {
		rc.Found = append(rc.Found, fmt.Sprintf("snapshot: %d kube-root-ca.crt ConfigMaps carry CA sha256 %s", facts.RootCAs[fp], fp))
	}
	if len(snapFPs) == 0 {
		rc.Found = append(rc.Found, "snapshot: no kube-root-ca.crt ConfigMap to compare")
	}
	var replaced, nodeFPs, other []string
	stale := 0
	for _, n := range c.Cluster.NodesWith(config.RoleControlPlane) {
		p, err := c.apiserverPod(ctx, n.Name)
		if err != nil {
			rc.node(n.Name, false, "cannot read the apiserver manifest: %v", err)
			continue
		}
		file, _ := hostFileOf(p, "client-ca-file", "/etc/kubernetes/pki/ca.crt")
		data, err := c.readQuiet(ctx, n.Name, file, "read the cluster CA "+file+" for its fingerprint")
		if err != nil {
			rc.node(n.Name, false, "cannot read %s: %v", file, err)
			continue
		}
		fp := firstCertFingerprint(data)
		if fp == "" {
			rc.node(n.Name, false, "%s holds no certificate", file)
			continue
		}
		var differ []string
		for _, s := range snapFPs {
			if s != fp && s != "encrypted" && s != "" {
				differ = append(differ, s)
			}
		}
		if len(differ) == 0 {
			rc.node(n.Name, true, "%s is CA sha256 %s", file, fp)
			continue
		}
		rc.node(n.Name, false, "%s is CA sha256 %s, not the snapshot's", file, fp)
		replaced = append(replaced, n.Name)
		if !slices.Contains(nodeFPs, fp) {
			nodeFPs = append(nodeFPs, fp)
		}
		for _, s := range differ {
			if !slices.Contains(other, s) {
				other = append(other, s)
				stale += facts.RootCAs[s]
			}
		}
	}
	if len(replaced) > 0 {
		rc.fail("the cluster CA was replaced since the snapshot: %s trust CA sha256 %s, the snapshot's kube-root-ca.crt ConfigMaps carry %s. "+
			"Keep the nodes' CA (putting the old one back would refuse every certificate issued since: the apiservers' serving certificates, "+
			"the kubelets' and the components' credentials). Restored, the cluster comes back, but %d kube-root-ca.crt ConfigMaps (and legacy "+
			"service-account token Secrets) carry the old CA until kube-controller-manager, restarted at step 5, republishes them from its "+
			"--root-ca-file: pods that read them before then cannot verify the apiserver (restart those that still fail), and "+
			"kube-public/cluster-info keeps the old CA, which no controller rewrites (re-upload it with `kubeadm init phase bootstrap-token` "+
			"before joining nodes). Restore a snapshot taken after the CA change if there is one; override ca-era only to restore this one",
			strings.Join(replaced, ", "), strings.Join(nodeFPs, ", "), strings.Join(other, ", "), stale)
	}
	return rc
}

func firstCertFingerprint(data []byte) string {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return ""
	}
	return snapshot.Fingerprint(b.Bytes)
}

// memberFlag reads one etcd flag from a member's manifest or env file.
func (c *Context) memberFlag(data []byte, flag string) (string, bool, func(string) string) {
	if c.systemd() {
		v, ok, err := manifest.EnvFlag(data, flag)
		return v, ok && err == nil, func(s string) string { return s }
	}
	p, err := manifest.Parse(data)
	if err != nil {
		return "", false, func(s string) string { return s }
	}
	v, ok := p.Flag(flag)
	return v, ok, func(s string) string { h, _ := p.HostPathOf(s); return h }
}

// checkCertificates: each member's server and peer certificates must name
// the hosts of the URLs the restore gives it, and be valid now.
func (c *Context) checkCertificates(ctx context.Context, now time.Time) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckCertificates, Title: "each member's server and peer certificates cover the URLs the restore gives it", OK: true}
	for _, m := range c.members() {
		data, err := c.readQuiet(ctx, m.Node, c.etcdSource(), "read "+c.etcdSource()+" for the member's certificate files")
		if err != nil {
			rc.node(m.Node, false, "cannot read %s: %v", c.etcdSource(), err)
			continue
		}
		for _, kind := range []struct {
			flag string
			urls []string
		}{{"cert-file", m.ClientURLs}, {"peer-cert-file", m.PeerURLs}} {
			v, ok, host := c.memberFlag(data, kind.flag)
			if !ok || v == "" {
				continue // plain http: nothing to cover
			}
			file := host(v)
			pemData, err := c.readQuiet(ctx, m.Node, file, "read "+file+" to check it covers the member's URLs")
			if err != nil {
				rc.node(m.Node, false, "cannot read --%s %s: %v", kind.flag, file, err)
				continue
			}
			if why := certCovers(pemData, kind.urls, now); why != "" {
				rc.node(m.Node, false, "--%s %s: %s", kind.flag, file, why)
				rc.fail("%s (member %s): %s %s; issue it for the URLs the restore uses (%s) before restoring, or the members refuse each other's TLS",
					m.Node, m.Name, file, why, strings.Join(kind.urls, ", "))
				continue
			}
			rc.node(m.Node, true, "--%s %s covers %s", kind.flag, file, strings.Join(kind.urls, ", "))
		}
	}
	return rc
}

// certCovers is "" when the PEM certificate is valid at now and names the
// host of every URL, else why not.
func certCovers(pemData []byte, urls []string, now time.Time) string {
	b, _ := pem.Decode(pemData)
	if b == nil {
		return "holds no PEM certificate"
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "cannot be parsed: " + err.Error()
	}
	if now.After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return fmt.Sprintf("is not valid now (valid %s to %s)", cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339))
	}
	var bad []string
	for _, u := range urls {
		pu, err := url.Parse(u)
		if err != nil || pu.Scheme != "https" {
			continue
		}
		if err := cert.VerifyHostname(pu.Hostname()); err != nil {
			bad = append(bad, pu.Hostname())
		}
	}
	if len(bad) > 0 {
		return "does not name " + strings.Join(bad, ", ")
	}
	return ""
}

// walSegmentBytes is etcd's WAL segment size (server/storage/wal's
// SegmentSizeBytes, 64*1000*1000 in etcd 3.5 to 3.7), which etcd
// preallocates (fallocate) whole for every segment file.
const walSegmentBytes = 64 * 1000 * 1000

// walNeed is what a restored member's WAL takes at once: the first segment,
// which `etcdutl snapshot restore` preallocates (wal.Create fails without
// it), and the next one, which the running member's file pipeline
// preallocates ahead as N.tmp (file_pipeline.go) and without which it
// fails at its first segment cut.
const walNeed = 2 * walSegmentBytes

// checkQuotaDisk: the snapshot fits each member's backend quota with room
// to run, and the disk holds the new data dir plus this run's copy of the
// snapshot next to it.
func (c *Context) checkQuotaDisk(ctx context.Context, size int64) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckQuotaDisk, Title: "the snapshot fits each member's quota and disk, with the run's copies", OK: true}
	rc.Found = append(rc.Found, fmt.Sprintf("snapshot: %d bytes", size))
	for _, m := range c.members() {
		data, err := c.readQuiet(ctx, m.Node, c.etcdSource(), "read "+c.etcdSource()+" for --quota-backend-bytes")
		if err != nil {
			rc.node(m.Node, false, "cannot read %s: %v", c.etcdSource(), err)
			continue
		}
		quota := int64(defaultQuota)
		if v, ok, _ := c.memberFlag(data, "quota-backend-bytes"); ok {
			if q, err := strconv.ParseInt(v, 10, 64); err == nil && q > 0 {
				quota = q
			}
		}
		// Room to run: etcd raises NOSPACE at the quota, and the
		// apiservers write on start (leases, events, endpoints).
		if room := quota - size; room < quota/5 {
			rc.node(m.Node, false, "quota %d bytes, snapshot %d: less than 20%% left", quota, size)
			rc.fail("%s: the snapshot (%d bytes) leaves less than 20%% of --quota-backend-bytes (%d) free: etcd would raise NOSPACE and refuse writes; "+
				"raise --quota-backend-bytes or defragment and compact before taking the snapshot", m.Node, size, quota)
		} else {
			rc.node(m.Node, true, "quota %d bytes: room after the snapshot", quota)
		}
		// The new data dir (up to twice the snapshot while restoring, and
		// its WAL's preallocated segments) and, unless the snapshot lies on
		// this node already, its copy there.
		need, copies := 2*size+walNeed, fmt.Sprintf("the new data dir (2x, and %d for the WAL)", walNeed)
		if m.Node != c.snapshotHolder() {
			need += size
			copies += " and the run's copy of the snapshot (1x)"
		}
		res, err := c.Exec1(ctx, c.diskFree(m.Node))
		avail, perr := nodes.ParseDFAvail(res.Stdout)
		if err != nil || perr != nil {
			rc.node(m.Node, false, "cannot read free disk: %v", firstErr(err, perr))
			continue
		}
		dir := path.Dir(c.val(c.Values.DataDir, "/var/lib/"+PhDataDir))
		if avail < need {
			rc.node(m.Node, false, "%d bytes free under %s, need %d", avail, dir, need)
			rc.fail("%s: %d bytes free under %s, need %d for %s: free space or set etcd.restoredDataDir elsewhere", m.Node, avail, dir, need, copies)
			continue
		}
		rc.node(m.Node, true, "%d bytes free under %s, need %d for %s", avail, dir, need, copies)
	}
	return rc
}

// pauseHints say what to pause for each product automationGroups names.
var pauseHints = map[string]string{
	"Cluster API":                         "set spec.paused: true on its Cluster in the management cluster (or annotate cluster.x-k8s.io/paused) and scale its controllers to 0",
	"etcdadm (Cluster API etcd provider)": "annotate the EtcdadmCluster cluster.x-k8s.io/paused and scale the etcdadm controller to 0",
	"Rancher":                             "scale the rancher deployment and cattle-cluster-agent to 0 (its provisioning would replace the nodes)",
	"Gardener etcd-druid":                 "annotate the Etcd resource druid.gardener.cloud/suspend-etcd-spec-reconcile and scale etcd-druid to 0",
	"Gardener":                            "annotate the Shoot to stop reconciliation and scale gardenlet's machine-controller-manager to 0",
	"OpenShift Machine API":               "scale machine-api-operator and the machine-api controllers to 0",
	"EKS Anywhere":                        "annotate the Cluster anywhere.eks.amazonaws.com/paused=true on the management cluster",
	"kOps":                                "stop kops-controller and the cluster's autoscaling groups' replacements",
}

// checkAutomation warns about controllers that manage control-plane
// machines or etcd members: with the snapshot's older state they may
// delete or replace the machines being recovered.
func checkAutomation(facts snapshot.Readiness) ReadinessCheck {
	rc := ReadinessCheck{Name: CheckAutomation, Title: "no automation in the snapshot that manages control-plane machines or etcd", OK: true, Warning: true}
	for _, p := range snapshot.SortedKeys(facts.Automation) {
		rc.Found = append(rc.Found, fmt.Sprintf("snapshot: %s: %s", p, countsOf(facts.Automation[p])))
		rc.fail("%s is in the snapshot and will act on its older state after the restore, deleting or replacing the machines being recovered: %s",
			p, pauseHints[p])
	}
	if rc.OK {
		rc.Found = append(rc.Found, "snapshot: none of Cluster API, etcdadm, Rancher, Gardener, OpenShift Machine API, EKS Anywhere, kOps")
	} else {
		rc.Problem += "; once paused, add automation to readiness.override"
	}
	return rc
}

func countsOf(m map[string]int) string {
	var parts []string
	for _, k := range snapshot.SortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func listOr(list []string, none string) string {
	if len(list) == 0 {
		return none
	}
	return strings.Join(list, ", ")
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
