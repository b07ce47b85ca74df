package etcdtools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVersionReadsReleasesAndImageTags(t *testing.T) {
	tests := []struct {
		in   string
		want Version
		ok   bool
	}{
		{"3.6.6", Version{3, 6, 6}, true},
		{"v3.7.3", Version{3, 7, 3}, true},
		{"3.6.6-0", Version{3, 6, 6}, true},
		{"latest", Version{}, false},
		{"3.6", Version{}, false},
	}
	for _, tt := range tests {
		got, err := ParseVersion(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFindPicksTheNewestPatchOfTheMembersMinorAndNamesTheFixWhenThereIsNone(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{
		"etcdutl-v3.6.4": 0o755, "etcdutl-v3.6.6": 0o755, "etcdutl-v3.7.3": 0o755,
		"etcdctl-v3.6.9": 0o644, // not executable: never brought
		"etcd-v3.6.6":    0o755, // the server is not a tool
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, tool string
		want       Version
		wantPath   string
		errHas     string
	}{
		{"a 3.6.5 member gets the newest 3.6 etcdutl", Etcdutl, Version{3, 6, 5}, "etcdutl-v3.6.6", ""},
		{"a 3.7.0 member gets the 3.7 etcdutl", Etcdutl, Version{3, 7, 0}, "etcdutl-v3.7.3", ""},
		{"a 3.5 member has none and is told how to get one", Etcdutl, Version{3, 5, 21}, "", "etcd-dr tools build --etcd-version 3.5.21"},
		{"a non-executable etcdctl is not offered", Etcdctl, Version{3, 6, 6}, "", "no etcdctl 3.6.x in " + dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(dir, tt.tool, tt.want)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Find = %+v, %v; want an error with %q", got, err, tt.errHas)
				}
				return
			}
			if err != nil || filepath.Base(got.Path) != tt.wantPath {
				t.Fatalf("Find = %+v, %v; want %s", got, err, tt.wantPath)
			}
		})
	}
}
