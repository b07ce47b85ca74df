package lab

import (
	"strings"
	"testing"
)

func TestSeedValuesHaveRealSizes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		got      int
		min, max int
	}{
		{"a raw key's value", len(rawValue(0, 0, "before the snapshot")), 2 << 10, 6 << 10},
		{"another raw key's value", len(rawValue(1234, 0, "before the snapshot")), 2 << 10, 6 << 10},
		{"every 500th raw key is large", len(rawValue(499, 0, "before the snapshot")), 48 << 10, 48 << 10},
		{"KeyValueBytes fixes the size", len(rawValue(499, 64, "before the snapshot")), 64, 64},
		{"a ConfigMap", len(configMap("ns", "c", "v").body), 3 << 10, 4 << 10},
		{"a Secret", len(secret("ns", "s", "v").body), 3 << 10, 4 << 10},
		{"a Deployment", len(deployment("ns", "d").body), 3 << 10, 4 << 10},
		{"the large ConfigMap", len(bigConfigMap("ns", "b").body), 384 << 10, 400 << 10}, // JSON escapes its newlines
	} {
		if tc.got < tc.min || tc.got > tc.max {
			t.Errorf("%s: %d bytes, want %d–%d", tc.name, tc.got, tc.min, tc.max)
		}
	}
	if v := rawValue(7, 0, "before the snapshot"); !strings.HasPrefix(v, "before the snapshot\n") {
		t.Errorf("a raw value does not start with what it says: %.40q", v)
	}
}
