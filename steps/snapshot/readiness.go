package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Readiness is what the readiness report needs from the snapshot's values,
// reduced while they are read (one value at a time, each dropped at once):
// which encryption keys wrote them, which cluster CA the kube-root-ca.crt
// ConfigMaps carry, and which machine-managing automation lives in it. No
// value, nor any part of one but a public CA's fingerprint, leaves the child.
type Readiness struct {
	// Encrypted counts live objects per encryption key ("aescbc:key1") and
	// resource ("secrets").
	Encrypted map[string]map[string]int `json:"encrypted,omitempty"`
	// Plain counts live /registry/ objects stored unencrypted, per resource,
	// for the resources that have encrypted objects too (a migration).
	Plain map[string]int `json:"plain,omitempty"`
	// RootCAs counts kube-root-ca.crt ConfigMaps per SHA-256 fingerprint of
	// the CA certificate they carry ("encrypted": unreadable here).
	RootCAs map[string]int `json:"rootCAs,omitempty"`
	// Automation counts live objects per product that manages machines
	// (Cluster API, etcdadm, Rancher...), with the resources seen.
	Automation map[string]map[string]int `json:"automation,omitempty"`
}

// EncryptionKey reads the prefix the apiserver's envelope writes before an
// encrypted value: "k8s:enc:<provider>:<v1|v2>:<key name>:". ok is false for
// a value that is not encrypted (protobuf "k8s\x00", JSON, identity).
func EncryptionKey(v []byte) (provider, key string, ok bool) {
	rest, found := bytes.CutPrefix(v, []byte("k8s:enc:"))
	if !found {
		return "", "", false
	}
	parts := bytes.SplitN(rest, []byte(":"), 4)
	if len(parts) < 4 || len(parts[0]) == 0 || len(parts[2]) == 0 || !bytes.HasPrefix(parts[1], []byte("v")) {
		return "", "", false
	}
	return string(parts[0]), string(parts[2]), true
}

// rootCAFingerprint is the SHA-256 of the first certificate in a
// kube-root-ca.crt ConfigMap value (protobuf or JSON: the PEM is stored
// verbatim in either), hex, or "" when none is found.
func rootCAFingerprint(v []byte) string {
	i := bytes.Index(v, []byte("-----BEGIN CERTIFICATE-----"))
	if i < 0 {
		return ""
	}
	chunk := v[i:]
	// JSON escapes newlines; pem.Decode needs real ones.
	chunk = bytes.ReplaceAll(chunk, []byte(`\n`), []byte("\n"))
	b, _ := pem.Decode(chunk)
	if b == nil {
		return ""
	}
	return Fingerprint(b.Bytes)
}

// Fingerprint is the SHA-256 of a DER certificate, hex with colons as
// openssl prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// automationGroups are API groups whose controllers create, replace or
// delete control-plane machines or etcd members, and so fight a restore
// that brings back their older state.
var automationGroups = []struct{ suffix, product string }{
	{"etcdcluster.cluster.x-k8s.io", "etcdadm (Cluster API etcd provider)"},
	{"cluster.x-k8s.io", "Cluster API"},
	{"cattle.io", "Rancher"},
	{"druid.gardener.cloud", "Gardener etcd-druid"},
	{"gardener.cloud", "Gardener"},
	{"machine.openshift.io", "OpenShift Machine API"},
	{"anywhere.eks.amazonaws.com", "EKS Anywhere"},
	{"kops.k8s.io", "kOps"},
}

// AutomationOf names the product behind a /registry/ key: an object of one
// of its API groups, or the CRD defining one. "" for anything else.
func AutomationOf(key string) (product, resource string) {
	rest, ok := strings.CutPrefix(key, "/registry/")
	if !ok {
		return "", ""
	}
	parts := strings.Split(rest, "/")
	group := parts[0]
	resource = group
	if len(parts) > 1 {
		resource = parts[1] + "." + group
	}
	if group == "apiextensions.k8s.io" && len(parts) >= 3 && parts[1] == "customresourcedefinitions" {
		group, resource = parts[2], "crd "+parts[2]
		if _, g, ok := strings.Cut(group, "."); ok {
			group = g
		}
	}
	for _, a := range automationGroups {
		if group == a.suffix || strings.HasSuffix(group, "."+a.suffix) {
			return a.product, resource
		}
	}
	return "", ""
}

// ReadinessFacts reads the facts the readiness report needs from the
// snapshot at path, in a child process like every bbolt read.
func ReadinessFacts(path string) (Readiness, error) {
	res, err := inspectChild(modeReadiness, path)
	if err != nil {
		return Readiness{}, err
	}
	return res.Readiness, nil
}

// fact is what one live key contributes, computed from its value as it is
// read; the value itself is not kept.
type fact struct {
	encKey, resource, caFP string
	plain                  bool
}

func factOf(key string, v []byte) (fact, bool) {
	resource, _, ok := ParseRegistryKey(key)
	if !ok {
		return fact{}, false
	}
	f := fact{resource: resource}
	if p, k, ok := EncryptionKey(v); ok {
		f.encKey = p + ":" + k
	} else {
		f.plain = true
	}
	if resource == "configmaps" && strings.HasSuffix(key, "/kube-root-ca.crt") {
		f.caFP = "encrypted"
		if f.plain {
			f.caFP = rootCAFingerprint(v)
		}
	}
	return f, true
}

// childReadiness replays the key bucket in revision order, keeping per live
// key only its fact: bbolt pages values in through the map, and none is
// held past its own iteration.
func childReadiness(path string) (Readiness, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return Readiness{}, err
	}
	defer db.Close()
	facts := make(map[string]fact)
	err = db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("key")).ForEach(func(k, v []byte) error {
			if len(k) < 17 {
				return fmt.Errorf("revision key %x is %d bytes, want 17 or 18", k, len(k))
			}
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return fmt.Errorf("revision %d: %w", binary.BigEndian.Uint64(k), err)
			}
			key := string(kv.Key)
			if len(k) == 18 && k[17] == 't' {
				delete(facts, key)
				return nil
			}
			if f, ok := factOf(key, kv.Value); ok {
				facts[key] = f
			}
			return nil
		})
	})
	if err != nil {
		return Readiness{}, err
	}
	return summariseReadiness(facts), nil
}

func summariseReadiness(facts map[string]fact) Readiness {
	r := Readiness{Encrypted: map[string]map[string]int{}, Plain: map[string]int{}, RootCAs: map[string]int{},
		Automation: map[string]map[string]int{}}
	plain := map[string]int{}
	for key, f := range facts {
		if f.encKey != "" {
			if r.Encrypted[f.encKey] == nil {
				r.Encrypted[f.encKey] = map[string]int{}
			}
			r.Encrypted[f.encKey][f.resource]++
		} else {
			plain[f.resource]++
		}
		if f.caFP != "" {
			r.RootCAs[f.caFP]++
		}
		if p, res := AutomationOf(key); p != "" {
			if r.Automation[p] == nil {
				r.Automation[p] = map[string]int{}
			}
			r.Automation[p][res]++
		}
	}
	for _, byRes := range r.Encrypted {
		for res := range byRes {
			if n := plain[res]; n > 0 {
				r.Plain[res] = n
			}
		}
	}
	return r
}

// SortedKeys lists a map's keys in order, for stable reports.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
