package realnode_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/nodes/lab"
	. "github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// TestContainerdRunsImage: a node's own containerd (Debian's, with the
// node's config) imports locally built images under kubeadm's exact names,
// and runc runs a container from them inside the node's namespaces.
func TestContainerdRunsImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // bounds a hang only
	defer cancel()
	bins, err := lab.EnsureEtcdTools(ctx, "", func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	binDir, _ := lab.BinDir()
	etcd := filepath.Join(binDir, "etcd-"+lab.EtcdVersion)
	pause, err := EnsurePause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n, dir := newTestNet(t, 13)
	cp1, err := n.AddNode(ctx, dir, "cp-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cp1.StartContainerd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	imgDir := t.TempDir()
	archives := map[string]string{}
	for _, spec := range ControlPlaneImages(etcd, bins.Etcdctl, bins.Etcdutl, etcd, etcd, etcd, pause) {
		if spec.Name != Images()["etcd"] && spec.Name != Images()["pause"] {
			continue // the kube binaries are not needed to prove the runtime
		}
		a := filepath.Join(imgDir, ArchiveName(spec.Name))
		if err := BuildArchive(spec, a); err != nil {
			t.Fatal(err)
		}
		archives[spec.Name] = a
	}
	if err := cp1.ImportImages(ctx, archives); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, image string
		args        []string
		want        string
	}{
		{"etcd", Images()["etcd"], []string{"etcd", "--version"}, "etcd Version: 3.6.6"},
		{"etcdutl", Images()["etcd"], []string{"etcdutl", "version"}, "etcdutl version: 3.6.6"},
		{"no host tools", Images()["etcd"], []string{"cat", "/etc/hostname"}, ""}, // the image's rootfs has no cat
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cp1.Run(ctx, "ctr", append([]string{"-n", "k8s.io", "run", "--rm", "--net-host", "--cgroup", cp1.CgroupRoot() + "/t", tc.image, "t"}, tc.args...)...)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("%v ran in an image without it: %s", tc.args, out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("%v printed %q, want %q", tc.args, out, tc.want)
			}
		})
	}
}
