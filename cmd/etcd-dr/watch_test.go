package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/etcd-dr/etcd-dr/steps"
	"github.com/etcd-dr/etcd-dr/steps/journal"
)

func TestWatchTurnsJournalRecordsIntoTheConsolesEvents(t *testing.T) {
	at := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	gate := steps.Gate{Step: steps.StopApiservers, Title: "Stop every kube-apiserver", NeedsName: true,
		Commands: []steps.NodeCommands{{Node: "cp-1", Commands: []string{"mv a b"}, What: []string{"park a"}}}}
	offer, _ := json.Marshal(gate)
	tests := []struct {
		name string
		rec  journal.Record
		want steps.Event
	}{
		{name: "a passed check is the check the console saw",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "stop-apiservers", Node: "cp-1",
				Check: "no kube-apiserver process", State: "ok"},
			want: steps.CheckEvent{At: at, Step: steps.StopApiservers, Node: "cp-1", Check: "no kube-apiserver process", OK: true}},
		{name: "a failed check keeps its detail",
			rec: journal.Record{At: at, Kind: journal.KindCheck, Step: "start-apiservers", Node: "cp-2",
				Check: "kube-apiserver /readyz", State: "failed", Why: "connection refused"},
			want: steps.CheckEvent{At: at, Step: steps.StartApiservers, Node: "cp-2", Check: "kube-apiserver /readyz",
				Detail: "connection refused"}},
		{name: "an opened gate is the whole gate, commands and their purposes included",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: offer},
			want: steps.GateEvent{At: at, Gate: gate}},
		{name: "an opened gate whose offer cannot be read still shows its title",
			rec:  journal.Record{At: at, Kind: journal.KindGateOpen, Step: "stop-apiservers", Why: gate.Title, Offer: []byte(`"x"`)},
			want: steps.GateEvent{At: at, Gate: steps.Gate{Step: steps.StopApiservers, Title: gate.Title}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, ended := recordEvents(tc.rec)
			if ended || len(evs) != 1 {
				t.Fatalf("recordEvents = %+v, ended %v; want one event", evs, ended)
			}
			got, _ := json.Marshal(evs[0])
			want, _ := json.Marshal(tc.want)
			if string(got) != string(want) {
				t.Errorf("event %T %s, want %T %s", evs[0], got, tc.want, want)
			}
		})
	}
}
