package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func addManifestSeeds(f *testing.F) []string {
	f.Helper()
	var seeds []string
	for _, name := range []string{"etcd.yaml", "kube-apiserver.yaml", "kube-scheduler.yaml", "kube-controller-manager.yaml"} {
		seeds = append(seeds, string(readTestdataF(f, name)))
	}
	seeds = append(seeds,
		"kind: Pod\nmetadata: {name: etcd}\nspec:\n  containers:\n  - name: etcd\n    command: [etcd, --name, a]\n",
		"kind: Pod\nspec:\n  containers:\n  - args:\n    - \"--name=a\" # c\n    - --data-dir\n    - '/x'\n",
		"kind: Pod\r\nspec:\r\n  containers:\r\n  - command:\r\n    - x\r\n    - |\r\n      --name=a\r\n",
		"a: &x [1]\nb: *x\n", "", "kind: Pod\n---\n", "\t", "kind: Pod\nspec: {containers: [{}]}\n",
	)
	return seeds
}

func readTestdataF(f *testing.F, name string) []byte {
	f.Helper()
	b, err := readFile(name)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzParse(f *testing.F) {
	for _, s := range addManifestSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
			return
		}
		p.Flag("--name")
		p.HostPath("etcd-data")
		p.MountPath("etcd-data")
		if m, err := EtcdMemberFrom(p); err == nil && m.Name == "" {
			t.Errorf("member without a name accepted")
		}
	})
}

func FuzzEdit(f *testing.F) {
	for _, s := range addManifestSeeds(f) {
		f.Add([]byte(s), "name", "cp-9", "/var/lib/x")
		f.Add([]byte(s), "etcd-servers", "a b'\"; $(x)\n#", "/a: b")
		f.Add([]byte(s), "data-dir", "-x", "/-")
	}
	f.Fuzz(func(t *testing.T, data []byte, flag, value, hostPath string) {
		out, err := Edit(data, SetFlag(flag, value), SetHostPath("etcd-data", hostPath))
		if err != nil {
			return
		}
		p, err := Parse(out)
		if err != nil {
			if _, origErr := Parse(data); origErr == nil {
				t.Fatalf("a valid manifest became invalid: %v\n%s", err, out)
			}
			return
		}
		if got, ok := p.Flag(flag); !ok || got != value {
			t.Errorf("Flag(%q) = %q, %v after setting %q\n%s", flag, got, ok, value, out)
		}
		if got, _ := p.HostPath("etcd-data"); got != hostPath {
			t.Errorf("HostPath = %q after setting %q", got, hostPath)
		}
	})
}

func readFile(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }

func FuzzEditEtcdEnv(f *testing.F) {
	f.Add(readTestdataF(f, "etcd.env"), "ETCD_DATA_DIR", "/var/lib/etcd-new")
	f.Add([]byte("A='x'\r\nB=\"y\\\"\"\n; c\n"), "B", "z")
	f.Add([]byte("ETCD_NAME=a\\\n"), "ETCD_NAME", "b")
	f.Fuzz(func(t *testing.T, data []byte, key, value string) {
		_, _ = ParseEtcdEnv(data)
		out, err := EditEtcdEnv(data, key, value)
		if err != nil {
			return
		}
		env, err := parseEnv(out)
		if err != nil || env[key].value != value {
			t.Fatalf("edited file reads %q (%v), want %s=%q\n%s", env[key].value, err, key, value, out)
		}
	})
}
