package snapshot

import (
	"fmt"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/etcd-dr/etcd-dr/steps/termsafe"
)

// Card is the snapshot card shown at gates: what the operator is about to
// restore, in the words they check it by.
func (i Info) Card() []string { return i.CardAt(time.Now()) }

// CardAt is Card with the current time given (for age), for tests.
func (i Info) CardAt(now time.Time) []string {
	saved := i.ModTime
	if i.Sidecar != nil && !i.Sidecar.Time.IsZero() {
		saved = i.Sidecar.Time
	}
	lines := []string{
		"snapshot  " + i.Path,
		fmt.Sprintf("age       %s (saved %s)", age(now.Sub(saved)), saved.UTC().Format("2006-01-02 15:04:05 UTC")),
		fmt.Sprintf("size      %s (database %s)", humanize.IBytes(uint64(max(i.Size, 0))), humanize.IBytes(uint64(max(i.TotalSize, 0)))),
		fmt.Sprintf("revision  %d", i.Revision),
		fmt.Sprintf("keys      %d", i.TotalKeys),
	}
	if i.Version != "" {
		lines = append(lines, "storage   etcd "+i.Version)
	}
	lines = append(lines, "hash      "+i.hashState())
	if s := i.Sidecar; s != nil && (s.SourceMember != "" || s.ClusterID != "") {
		lines = append(lines, fmt.Sprintf("source    member %s of cluster %s (%d members)", s.SourceMember, s.ClusterID, len(s.Members)))
	}
	for j, l := range lines {
		lines[j] = termsafe.Line(l) // a path or a sidecar's member name may hold escapes
	}
	return lines
}

func (i Info) hashState() string {
	s := fmt.Sprintf("crc32 %08x; sha256 %s", i.Hash, short(i.SHA256))
	if i.TrailerOK {
		s += "; trailer OK"
	} else {
		s += "; NO TRAILER CHECK"
	}
	switch {
	case i.Sidecar == nil:
		s += "; no sidecar"
	case i.SidecarOK:
		s += "; matches the hash recorded when it was saved"
	default:
		s += "; DOES NOT MATCH the hash recorded when it was saved"
	}
	return s
}

// age prints a duration the way an operator reads a snapshot's age.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future (check the clocks)"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
