package lab

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// AdminKubeconfig is DIR/admin.conf: what an operator's ~/.kube/config holds
// for the lab (the first apiserver, the cluster CA, the admin token), for
// `etcd-dr init --kubeconfig`.
const AdminKubeconfig = "admin.conf"

func (l *Lab) writeAdminKubeconfig() error {
	api := l.nodes[l.nodeNames("cp-")[0]].spec.Addr
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: drill
  cluster:
    certificate-authority: %s
    server: https://%s:6443
contexts:
- name: lab-admin@drill
  context: {cluster: drill, user: lab-admin}
current-context: lab-admin@drill
users:
- name: lab-admin
  user:
    token: %s
`, filepath.Join(l.opts.Dir, "pki", "ca.crt"), api, l.state.Tokens.Admin)
	return writeFileAtomic(filepath.Join(l.opts.Dir, AdminKubeconfig), []byte(conf), 0o600)
}

// registerNodes does what a real kubelet does first against a healthy API:
// create its Node (kubeadm's role label, the InternalIP) and a mirror pod
// per static pod manifest in kube-system. Only with Options.RegisterNodes.
// Every lab kubelet also registers its Node and renews its Lease
// (kubelet_node.go); whichever creates the Node first, this labels it with
// its role as kubeadm does. Mirror pods are made only here: the lab kubelet
// makes none yet, where the real one does. External etcd hosts are not
// Kubernetes nodes and register nothing.
func (l *Lab) registerNodes(ctx context.Context) error {
	c, err := l.apiClient()
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	api := l.nodes[l.nodeNames("cp-")[0]].spec.Addr
	for _, name := range l.order {
		s := l.nodes[name].spec
		cp := slices.Contains(s.Roles, "control-plane")
		if !cp && !slices.Contains(s.Roles, "worker") {
			continue
		}
		labels := map[string]string{"kubernetes.io/hostname": s.Name, "kubernetes.io/os": "linux"}
		if cp {
			labels["node-role.kubernetes.io/control-plane"] = ""
		}
		node := map[string]any{"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{"name": s.Name, "labels": labels},
			"status": map[string]any{"addresses": []map[string]string{
				{"type": "InternalIP", "address": s.Addr}, {"type": "Hostname", "address": s.Name}}}}
		b, _ := json.Marshal(node)
		if err := create(ctx, c, api, l.state.Tokens.Admin, object{"/api/v1/nodes", s.Name, string(b)}); err != nil {
			return err
		}
		// The node's kubelet may have registered it first (kubelet_node.go),
		// without a role: NodeRestriction refuses a kubelet that sets
		// node-role.kubernetes.io/* on its own Node. kubeadm's
		// mark-control-plane phase labels it with admin credentials; so does
		// the lab, whoever created it.
		lb, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
		if err := mergePatch(ctx, c, api, l.state.Tokens.Admin, "/api/v1/nodes/"+s.Name, lb); err != nil {
			return err
		}
		if err := l.mirrorPods(ctx, s, func(o object) error { return create(ctx, c, api, l.state.Tokens.Admin, o) }); err != nil {
			return err
		}
	}
	return nil
}

// mirrorPods creates kube-system/<pod>-<node> for each manifest in the
// node's manifests dir, as the kubelet's mirror client does.
func (l *Lab) mirrorPods(_ context.Context, s nodeSpec, create func(object) error) error {
	dir := filepath.Join(l.opts.Dir, "nodes", s.Name, "upper", "etc", "kubernetes", "manifests")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lab: register %s: %w", s.Name, err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("lab: register %s: %w", s.Name, err)
		}
		var pod map[string]any
		if err := yaml.Unmarshal(raw, &pod); err != nil {
			return fmt.Errorf("lab: register %s: %s: %w", s.Name, e.Name(), err)
		}
		meta, _ := pod["metadata"].(map[string]any)
		spec, _ := pod["spec"].(map[string]any)
		if meta == nil || spec == nil {
			continue
		}
		sum := sha256.Sum256(raw)
		name := fmt.Sprint(meta["name"]) + "-" + s.Name
		meta["name"], meta["namespace"] = name, "kube-system"
		meta["annotations"] = map[string]any{"kubernetes.io/config.mirror": hex.EncodeToString(sum[:16]),
			"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": hex.EncodeToString(sum[:16])}
		spec["nodeName"] = s.Name
		b, err := json.Marshal(pod)
		if err != nil {
			return err
		}
		if err := create(object{"/api/v1/namespaces/kube-system/pods", name, string(b)}); err != nil {
			return err
		}
	}
	return nil
}

// mergePatch applies a JSON merge patch to one object, as kubeadm's
// mark-control-plane does to a Node.
func mergePatch(ctx context.Context, c *http.Client, addr, token, path string, body []byte) error {
	url := "https://" + addr + ":6443" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/merge-patch+json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("lab: PATCH %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("lab: PATCH %s: HTTP %d: %s", url, resp.StatusCode, msg)
	}
	return nil
}
