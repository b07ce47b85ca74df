package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// etcdutl snapshot restore (3.5.10 and later) exits with "--mark-compacted
// required if --revision-bump > 0" when it is given a bump without
// --mark-compacted. etcd-dr always bumps, so markCompacted: false can only
// fail, and at step 2, after every apiserver is stopped: validation refuses
// it first, naming the file and the line.
func TestMarkCompactedFalseIsRefusedBeforeAnyStep(t *testing.T) {
	for _, tc := range []struct {
		name, etcd string
		err        []string // each in the error; nil: the file loads
	}{
		{"a fixed bump without markCompacted is refused at its line",
			"etcd:\n  bumpRevision: 500\n  markCompacted: false\n",
			[]string{"cluster.yaml:7:18: error: etcd.markCompacted: false", `bumpRevision "500" (line 6)`, "--mark-compacted required if --revision-bump > 0"}},
		{"an auto bump without markCompacted is refused too",
			"etcd: {markCompacted: false}\n",
			[]string{"cluster.yaml:5:23: error: etcd.markCompacted: false", "bumpRevision auto"}},
		{"a fixed bump with markCompacted loads", "etcd: {bumpRevision: 500, markCompacted: true}\n", nil},
		{"a fixed bump alone loads (markCompacted defaults to true)", "etcd: {bumpRevision: 500}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := bastion(t, nil, nil)
			file := filepath.Join(dir, "cluster.yaml")
			writeFile(t, file, minimalFile+tc.etcd)
			c, _, err := LoadEnv(file, env)
			if tc.err == nil {
				if err != nil || !c.Etcd.MarkCompacted {
					t.Fatalf("load: %v (markCompacted %v)", err, c != nil && c.Etcd.MarkCompacted)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded; etcdutl would refuse this restore at step 2")
			}
			for _, want := range tc.err {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}
