package snapshot

import (
	"strings"
	"testing"
	"time"
)

func TestCardShowsWhatTheOperatorChecksAtTheGate(t *testing.T) {
	saved := time.Date(2026, 11, 24, 11, 38, 0, 0, time.UTC)
	base := Info{Path: "/backups/etcd/snap.db", Size: 12<<20 + 32, TotalSize: 12 << 20, Revision: 123456,
		TotalKeys: 4321, Hash: 0xdeadbeef, Version: "3.6.0", ModTime: saved, TrailerOK: true,
		SHA256: "b25141a7fb8e0000000000000000000000000000000000000000000000000000"}
	withSidecar := base
	withSidecar.Sidecar = &Meta{Time: saved.Add(-time.Minute), SourceMember: "cp-1", ClusterID: "c7efee1d445ed234", Members: []string{"cp-1", "cp-2", "cp-3"}}
	withSidecar.SidecarOK = true
	tests := []struct {
		name string
		info Info
		now  time.Time
		want []string
	}{
		{"a fresh snapshot without sidecar", base, saved.Add(3*time.Hour + 12*time.Minute), []string{
			"snapshot  /backups/etcd/snap.db",
			"age       3h12m (saved 2026-11-24 11:38:00 UTC)",
			"size      12 MiB (database 12 MiB)",
			"revision  123456",
			"keys      4321",
			"storage   etcd 3.6.0",
			"hash      crc32 deadbeef; sha256 b25141a7fb8e; trailer OK; no sidecar",
		}},
		{"a snapshot with its sidecar, days old", withSidecar, saved.Add(50 * time.Hour), []string{
			"snapshot  /backups/etcd/snap.db",
			"age       2d02h (saved 2026-11-24 11:37:00 UTC)",
			"size      12 MiB (database 12 MiB)",
			"revision  123456",
			"keys      4321",
			"storage   etcd 3.6.0",
			"hash      crc32 deadbeef; sha256 b25141a7fb8e; trailer OK; matches the hash recorded when it was saved",
			"source    member cp-1 of cluster c7efee1d445ed234 (3 members)",
		}},
		{"a snapshot from a clock in the future", base, saved.Add(-time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.info.CardAt(tt.now)
			if tt.want == nil {
				if !strings.Contains(got[1], "in the future (check the clocks)") {
					t.Errorf("age line = %q", got[1])
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("card:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
