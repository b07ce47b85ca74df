package lab

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// admin.conf is read back by client-go's loader (as `etcd-dr init
// --kubeconfig` and kubectl read it) into the first apiserver, the lab's
// CA and the admin token.
func TestAdminKubeconfigLoadsWithClientGo(t *testing.T) {
	dir := t.TempDir()
	l := &Lab{opts: Options{Dir: dir}, order: []string{"cp-1", "cp-2"}, nodes: map[string]*labNode{
		"cp-1": {node: &node{spec: nodeSpec{Name: "cp-1", Addr: "127.188.10.1"}}},
		"cp-2": {node: &node{spec: nodeSpec{Name: "cp-2", Addr: "127.188.10.2"}}}}}
	l.state.Tokens.Admin = "admin-token"
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pki", "ca.crt"), []byte("the loader only checks it is readable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.writeAdminKubeconfig(); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, AdminKubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"server", cfg.Host, "https://127.188.10.1:6443"},
		{"token", cfg.BearerToken, "admin-token"},
		{"CA", cfg.CAFile, filepath.Join(dir, "pki", "ca.crt")},
	} {
		if tc.got != tc.want {
			t.Errorf("admin.conf %s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}
