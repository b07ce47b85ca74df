package lab

import (
	"encoding/json"
	"strings"
	"testing"
)

// wireSize is the object's size as client-go sends it (JSON).
func wireSize(t *testing.T, o object) int {
	t.Helper()
	b, err := json.Marshal(o.obj)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

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
		{"a ConfigMap", wireSize(t, configMap("ns", "c", "v")), 3 << 10, 4 << 10},
		{"a Secret", wireSize(t, secret("ns", "s", "v")), 3 << 10, 4 << 10},
		{"a Deployment", wireSize(t, deployment("ns", "d")), 3 << 10, 4 << 10},
		{"the large ConfigMap", wireSize(t, bigConfigMap("ns", "b")), 384 << 10, 400 << 10}, // JSON escapes its newlines
	} {
		if tc.got < tc.min || tc.got > tc.max {
			t.Errorf("%s: %d bytes, want %d–%d", tc.name, tc.got, tc.min, tc.max)
		}
	}
	if v := rawValue(7, 0, "before the snapshot"); !strings.HasPrefix(v, "before the snapshot\n") {
		t.Errorf("a raw value does not start with what it says: %.40q", v)
	}
}
