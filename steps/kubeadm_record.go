package steps

import (
	"fmt"
	"slices"
	"strings"
)

// KubeadmDataDir is kubeadm's record of the etcd data dir gone stale: the
// kube-system/kubeadm-config ConfigMap's ClusterConfiguration still says
// etcd.local.dataDir: Old, and `kubeadm upgrade apply|node` (and a
// `kubeadm join --control-plane`) regenerate etcd.yaml from it — back onto
// the pre-restore data, silently undoing the restore on that node.
type KubeadmDataDir struct {
	Old   []string `json:"old"` // the members' data dirs before the restore
	New   string   `json:"new"`
	Fix   string   `json:"fix"`
	Nodes []string `json:"nodes"`
}

// Why says what is stale, in the operator's words.
func (k *KubeadmDataDir) Why() string {
	return fmt.Sprintf("the kubeadm-config ConfigMap (kube-system) still names etcd.local.dataDir %s; "+
		"a later `kubeadm upgrade` would regenerate etcd.yaml on %s onto the pre-restore data",
		strings.Join(k.Old, ", "), strings.Join(k.Nodes, ", "))
}

// kubeadmDataDir is set once step 2 restored into a new data dir on a
// static-pod cluster (the mode kubeadm makes).
func (c *Context) kubeadmDataDir() *KubeadmDataDir {
	if c.systemd() || c.Values.RestoredAt.IsZero() || c.Values.DataDir == "" {
		return nil
	}
	k := &KubeadmDataDir{New: c.Values.DataDir}
	for _, m := range c.Values.Members {
		if m.DataDir == "" || m.DataDir == c.Values.DataDir {
			continue
		}
		k.Nodes = append(k.Nodes, m.Node)
		if !slices.Contains(k.Old, m.DataDir) {
			k.Old = append(k.Old, m.DataDir)
		}
	}
	if len(k.Nodes) == 0 {
		return nil
	}
	k.Fix = fmt.Sprintf("kubectl -n kube-system edit configmap kubeadm-config: under ClusterConfiguration set etcd.local.dataDir: %s "+
		"(check with: kubectl -n kube-system get configmap kubeadm-config -o jsonpath='{.data.ClusterConfiguration}' | grep -A3 'local:')",
		c.Values.DataDir)
	return k
}

// kubeadmRecordFacts puts the warning at the verify gate too, where the
// console's operator reads it before the run ends.
func kubeadmRecordFacts(c *Context) []string {
	k := c.kubeadmDataDir()
	if k == nil {
		return nil
	}
	return []string{"after this run: " + k.Why() + "; fix: " + k.Fix}
}
