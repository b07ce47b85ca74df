package lab

import (
	"fmt"
	"strings"
)

// Real Kubernetes values are not 20 bytes: a Pod or Deployment object is
// several KiB (managedFields, last-applied-configuration, status), a
// ConfigMap holding dashboards or a CRD's schema hundreds of KiB. The seed
// writes values of such sizes so the snapshot, its copies and the restore
// carry a realistic byte count; Options.KeyValueBytes shrinks the raw keys'.

// seedPadBytes sizes the filler of the seed's objects; bigConfigBytes is
// one large ConfigMap (below the apiserver's 1.5 MiB request limit and
// etcd's default --max-request-bytes).
const (
	seedPadBytes   = 3 << 10
	bigConfigBytes = 384 << 10
)

// filler is n bytes of deterministic, printable, JSON-safe text: every
// line differs, as real manifests' fields do.
func filler(tag string, n int) string {
	var b strings.Builder
	b.Grow(n + 64)
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s line %06d: lorem ipsum dolor sit amet, consectetur adipiscing elit\n", tag, i)
	}
	return b.String()[:n]
}

// rawValueBytes is the size of raw key i's value: by default 2–6 KiB,
// every 500th key 48 KiB (a real keyspace's mix of Pods, Events and the
// odd large object); fixed > 0 makes every value that size.
func rawValueBytes(i, fixed int) int {
	if fixed > 0 {
		return fixed
	}
	if i%500 == 499 {
		return 48 << 10
	}
	return 2<<10 + (i*7919)%(4<<10)
}

// rawValue is raw key i's value: what says when it was written, padded to
// rawValueBytes.
func rawValue(i, fixed int, what string) string {
	n := rawValueBytes(i, fixed)
	if n <= len(what) {
		return what
	}
	return what + "\n" + filler("k", n-len(what)-1)
}
