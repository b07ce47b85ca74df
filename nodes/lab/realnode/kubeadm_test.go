package realnode_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestKubeadmFiles runs kubeadm v1.35.4's init phases inside a node and
// checks the files are kubeadm's own, naming the node's address and the
// image names the node's containerd must hold; the host stays untouched.
func TestKubeadmFiles(t *testing.T) {
	rb := realBins(t)
	n, dir := newTestNet(t, 14)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // bounds a hang only
	defer cancel()
	cp1, err := n.AddNode(ctx, dir, "cp-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	ip := cp1.Addr.String()
	if err := cp1.KubeadmInit(ctx, rb.Kubeadm, ip+":6443", func(s string) { t.Log(s) }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/etc/kubernetes/manifests/etcd.yaml", []string{
			"image: registry.k8s.io/etcd:3.6.6-0",
			"--listen-client-urls=https://127.0.0.1:2379,https://" + ip + ":2379",
			"--advertise-client-urls=https://" + ip + ":2379",
			"--data-dir=/var/lib/etcd", "--name=cp-1",
		}},
		{"/etc/kubernetes/manifests/kube-apiserver.yaml", []string{
			"image: registry.k8s.io/kube-apiserver:v1.35.4",
			"--etcd-servers=https://127.0.0.1:2379", "--advertise-address=" + ip, "startupProbe:",
		}},
		{"/etc/kubernetes/manifests/kube-scheduler.yaml", []string{
			"image: registry.k8s.io/kube-scheduler:v1.35.4", "--bind-address=127.0.0.1",
		}},
		{"/etc/kubernetes/manifests/kube-controller-manager.yaml", []string{
			"image: registry.k8s.io/kube-controller-manager:v1.35.4", "--bind-address=127.0.0.1",
		}},
		{"/var/lib/kubelet/config.yaml", []string{
			"failCgroupV1: false", "cgroupDriver: cgroupfs", "cgroupRoot: /edr14-cp-1",
			"staticPodPath: /etc/kubernetes/manifests",
		}},
		{"/var/lib/kubelet/kubeadm-flags.env", []string{"--node-ip=" + ip}},
		{"/etc/kubernetes/admin.conf", []string{"server: https://" + ip + ":6443"}},
		{"/etc/kubernetes/pki/etcd/ca.crt", []string{"BEGIN CERTIFICATE"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := cp1.ReadFile(ctx, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s lacks %q:\n%s", tc.path, w, got)
				}
			}
		})
	}
	if _, err := os.Stat("/etc/kubernetes"); err == nil {
		t.Fatal("kubeadm wrote the host's /etc/kubernetes")
	}
}
