package realnode_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/etcd-dr/etcd-dr/nodes/lab/realnode"
)

// TestClusterThreeStackedAndAWorker: kubeadm init on cp-1, kubeadm join
// --control-plane on cp-2 and cp-3, kubeadm join on w-1, each node under
// its real kubelet and containerd. The apiserver lists the four nodes, every
// control-plane node runs the four control-plane containers, and etcd has
// three members (cp-3 joined an existing cluster of two).
func TestClusterThreeStackedAndAWorker(t *testing.T) {
	rb := realBins(t)
	// Four nodes come up one after the other on a loaded 2-core machine:
	// many minutes; the deadline bounds a hang only.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	pause, err := EnsurePause(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	imgDir := t.TempDir()
	archives := map[string]string{}
	for _, spec := range ControlPlaneImages(rb.Etcd, rb.Etcdctl, rb.Etcdutl, rb.KubeApiserver, rb.KubeControllerManager, rb.KubeScheduler, pause) {
		a := filepath.Join(imgDir, ArchiveName(spec.Name))
		if err := BuildArchive(spec, a); err != nil {
			t.Fatal(err)
		}
		archives[spec.Name] = a
	}
	// Slot 11 is also a cmd/etcd-dr real-tier test's: a suite runs both
	// packages at once, and two clusters on one slot tear each other down.
	release, err := LockSlot(11, func(p string) { t.Logf("slot 11 is in use by another process (%s); waiting", p) })
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	dir := t.TempDir()
	start := time.Now()
	c, err := UpCluster(ctx, 11, dir, 3, 1, ClusterBinaries{Kubeadm: rb.Kubeadm, Kubelet: rb.Kubelet, Archives: archives},
		func(s string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), s) })
	if c != nil {
		defer c.Down(context.Background())
	}
	if err != nil {
		if c != nil {
			for _, cn := range c.Nodes {
				b, _ := os.ReadFile(cn.Dir + "/kubelet.log")
				t.Logf("%s kubelet log tail:\n%s", cn.Name, tailLines(string(b), 15))
			}
		}
		t.Fatal(err)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	t.Logf("RSS of everything the nodes run: %d MiB", rssMiB(t, c))

	admin, err := c.Nodes[0].ReadFile(ctx, "/etc/kubernetes/admin.conf")
	if err != nil {
		t.Fatal(err)
	}
	client := adminClient(t, admin)
	// kubeadm join returns once the kubelet has its client certificate
	// (TLS bootstrap); the kubelet registers its Node just after, as on a
	// real node: poll for it, a few minutes bounding a hang only.
	var got string
	listCtx, cancelList := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelList()
	listed := Wait(listCtx, 2*time.Second, func() bool {
		var nodes struct {
			Items []struct {
				Metadata struct{ Name string } `json:"metadata"`
			} `json:"items"`
		}
		resp, err := client.Get("https://" + c.Endpoint + "/api/v1/nodes")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&nodes); err != nil {
			return false
		}
		var names []string
		for _, it := range nodes.Items {
			names = append(names, it.Metadata.Name)
		}
		got = strings.Join(names, ",")
		return got == "cp-1,cp-2,cp-3,w-1"
	})
	if !listed {
		t.Errorf("apiserver lists nodes %s, want cp-1,cp-2,cp-3,w-1", got)
	}
	for _, cn := range c.Nodes {
		t.Run(cn.Name, func(t *testing.T) {
			var run map[string]bool
			want := []string{"etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager"}
			ok := Wait(ctx, 2*time.Second, func() bool {
				cs, err := cn.Containerd.Containers(ctx)
				if err != nil {
					return false
				}
				run = Running(cs)
				if !cn.ControlPlane {
					return len(run) == 0
				}
				for _, w := range want {
					if !run[w] {
						return false
					}
				}
				return true
			})
			if !ok {
				t.Fatalf("running containers %v (control plane: %v)", run, cn.ControlPlane)
			}
		})
	}
	m, err := c.Nodes[2].ReadFile(ctx, "/etc/kubernetes/manifests/etcd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"--initial-cluster-state=existing", "cp-1=https://", "cp-2=https://", "cp-3=https://"} {
		if !strings.Contains(m, w) {
			t.Errorf("cp-3's etcd manifest lacks %q:\n%s", w, m)
		}
	}
}

// adminClient is an HTTPS client with admin.conf's CA and client cert.
func adminClient(t *testing.T, kubeconfig string) *http.Client {
	t.Helper()
	field := func(name string) []byte {
		for _, l := range strings.Split(kubeconfig, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+": "); ok {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		t.Fatalf("admin.conf has no %s", name)
		return nil
	}
	cert, err := tls.X509KeyPair(field("client-certificate-data"), field("client-key-data"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(field("certificate-authority-data"))
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
}

// rssMiB sums VmRSS over every process in the cluster's network namespaces.
func rssMiB(t *testing.T, c *Cluster) int {
	total := 0
	for _, cn := range c.Nodes {
		out, _ := exec.Command("ip", "netns", "pids", c.Net.NetnsName(cn.Name)).Output()
		for _, pid := range strings.Fields(string(out)) {
			b, _ := os.ReadFile("/proc/" + pid + "/status")
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					kb, _ := strconv.Atoi(strings.Fields(v)[0])
					total += kb
				}
			}
		}
	}
	return total / 1024
}
