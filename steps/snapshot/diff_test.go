package snapshot

import (
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestCompareSortsEveryKeyIntoWhatTheRestoreDoesToIt(t *testing.T) {
	snap := Keyspace{Revision: 100, Keys: []KeyRev{
		{"/registry/configmaps/a/same", 5, 5},
		{"/registry/configmaps/a/edited", 6, 6},
		{"/registry/secrets/b/deleted", 7, 7},
		{"/registry/namespaces/recreated", 8, 8},
		{"/lab/raw", 9, 9},
	}}
	live := Keyspace{Revision: 140, Keys: []KeyRev{
		{"/registry/configmaps/a/same", 5, 5},
		{"/registry/configmaps/a/edited", 6, 120},
		{"/registry/namespaces/recreated", 130, 130},
		{"/registry/deployments/c/new", 110, 110},
		{"/registry/namespaces/c", 109, 109},
		{"/lab/new", 111, 111},
		{"/lab/raw", 9, 9},
	}}
	d := Compare(snap, live)
	tests := []struct {
		name string
		got  []string
		want []string
	}{
		{"keys created after the snapshot are dropped", Keys(d.Dropped),
			[]string{"/lab/new", "/registry/deployments/c/new", "/registry/namespaces/c"}},
		{"keys deleted after the snapshot are brought back", Keys(d.BroughtBack),
			[]string{"/registry/secrets/b/deleted"}},
		{"keys changed or recreated after the snapshot are rolled back", Keys(d.RolledBack),
			[]string{"/registry/configmaps/a/edited", "/registry/namespaces/recreated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	if d.Gap != 40 {
		t.Errorf("gap = %d, want 40", d.Gap)
	}
	want := "restoring drops 1 deployments, 1 namespaces, 1 other keys created after the snapshot; " +
		"brings back 1 secrets deleted after it; rolls back 1 configmaps, 1 namespaces changed after it; 40 revisions are lost"
	if s := d.Sentence(); s != want {
		t.Errorf("Sentence() =\n%s\nwant\n%s", s, want)
	}
}

func TestSentenceSaysSoWhenTheRestoreChangesNothing(t *testing.T) {
	ks := Keyspace{Revision: 9, Keys: []KeyRev{{"/registry/namespaces/a", 2, 2}}}
	if s := Compare(ks, ks).Sentence(); !strings.Contains(s, "restoring changes no key") {
		t.Errorf("Sentence() = %q", s)
	}
}

func TestParseEtcdctlKeysDecodesTheKeysEtcdctlPrints(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	out := fmt.Sprintf(`{"header":{"cluster_id":1,"member_id":2,"revision":77,"raft_term":3},
"kvs":[{"key":%q,"create_revision":4,"mod_revision":70,"version":2},{"key":%q,"create_revision":5,"mod_revision":5,"version":1}],"count":2}`,
		b64([]byte("/registry/pods/ns/p")), b64([]byte("/lab/x")))
	tests := []struct {
		name    string
		in      string
		want    Keyspace
		wantErr string
	}{
		{"a key list with revisions is decoded", out, Keyspace{Revision: 77, Keys: []KeyRev{
			{"/registry/pods/ns/p", 4, 70}, {"/lab/x", 5, 5}}}, ""},
		{"an empty etcd has no keys", `{"header":{"revision":1}}`, Keyspace{Revision: 1}, ""},
		{"an error message instead of json is refused", "Error: context deadline exceeded", Keyspace{}, "printed no key list"},
		{"a key that is not base64 is refused", `{"kvs":[{"key":"%%%"}]}`, Keyspace{}, "not base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEtcdctlKeys([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSnapshotKeysReadsTheKeysAliveAtTheSnapshot(t *testing.T) {
	path, _ := savedSnapshot(t, 20)
	ks, err := SnapshotKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.Keys) != sum.Keys || ks.Revision != sum.Revision || len(ks.Keys) == 0 {
		t.Fatalf("SnapshotKeys: %d keys at revision %d; Inspect: %d at %d", len(ks.Keys), ks.Revision, sum.Keys, sum.Revision)
	}
	for _, k := range ks.Keys {
		if k.Create <= 0 || k.Mod < k.Create || k.Mod > ks.Revision {
			t.Errorf("key %s has revisions create %d, mod %d at snapshot revision %d", k.Key, k.Create, k.Mod, ks.Revision)
		}
	}
}

func TestCompareWithTheLiveEtcdNamesEveryWriteAfterTheSnapshot(t *testing.T) {
	path, m := savedSnapshot(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, op := range []clientv3.Op{
		clientv3.OpPut("/registry/configmaps/ns-9/after", "{}"),
		clientv3.OpPut("/registry/configmaps/ns-1/cm-1", `{"edited":true}`),
		clientv3.OpDelete("/registry/configmaps/ns-2/cm-2"),
	} {
		if _, err := m.cli.Do(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := m.cli.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	live := Keyspace{Revision: resp.Header.Revision}
	for _, kv := range resp.Kvs {
		live.Keys = append(live.Keys, KeyRev{string(kv.Key), kv.CreateRevision, kv.ModRevision})
	}
	snap, err := SnapshotKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	d := Compare(snap, live)
	got := [][]string{Keys(d.Dropped), Keys(d.BroughtBack), Keys(d.RolledBack)}
	want := [][]string{{"/registry/configmaps/ns-9/after"}, {"/registry/configmaps/ns-2/cm-2"}, {"/registry/configmaps/ns-1/cm-1"}}
	if !reflect.DeepEqual(got, want) || d.Gap != 3 {
		t.Errorf("dropped, brought back, rolled back = %q (gap %d)\nwant %q (gap 3)", got, d.Gap, want)
	}
}
