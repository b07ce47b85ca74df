package steps

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncryptionKeyNamesAreReadWithoutTheirSecrets(t *testing.T) {
	const secret = "QUVTQ0JDa2V5b25lMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3OA=="
	for _, tc := range []struct {
		name, config string
		want         []string
		err          bool
	}{
		{"aescbc keys, identity ignored", "resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: new\n        secret: " + secret + "\n      - name: old\n        secret: " + secret + "\n  - identity: {}\n",
			[]string{"aescbc:new", "aescbc:old"}, false},
		{"secretbox, aesgcm and kms by name", "resources:\n- resources: [secrets, configmaps]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: vault\n      endpoint: unix:///kms.sock\n  - secretbox:\n      keys: [{name: box, secret: " + secret + "}]\n  - aesgcm:\n      keys: [{name: gcm, secret: " + secret + "}]\n",
			[]string{"aesgcm:gcm", "kms:vault", "secretbox:box"}, false},
		{"identity only holds no key", "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n", nil, false},
		{"broken YAML is refused without quoting it", "resources:\n- providers: [aescbc: {keys: " + secret + "\n", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncryptionKeyNames([]byte(tc.config))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %t", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), secret[:10]) {
				t.Errorf("the error quotes the key: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTheReportKeepsTheGateShutUntilEveryFailedCheckIsOverriddenByName(t *testing.T) {
	failed := func(name string, noOverride bool) ReadinessCheck {
		return ReadinessCheck{Name: name, Title: name, Problem: name + " is wrong", NoOverride: noOverride,
			Nodes: []ReadinessNode{{Node: "cp-1", Found: "what cp-1 has"}}}
	}
	for _, tc := range []struct {
		name      string
		checks    []ReadinessCheck
		overrides []string
		blocking  []string
	}{
		{"all passed: open", []ReadinessCheck{{Name: CheckEncryption, OK: true}, {Name: CheckCAEra, OK: true}}, nil, nil},
		{"a failed check keeps it shut", []ReadinessCheck{failed(CheckEncryption, false), {Name: CheckCAEra, OK: true}}, nil, []string{CheckEncryption}},
		{"an override naming another check does not open it", []ReadinessCheck{failed(CheckEncryption, false)}, []string{CheckCAEra}, []string{CheckEncryption}},
		{"an override naming it opens it", []ReadinessCheck{failed(CheckEncryption, false)}, []string{CheckEncryption}, nil},
		{"the etcd versions check cannot be overridden", []ReadinessCheck{failed(CheckEtcdVersions, true)}, []string{CheckEtcdVersions}, []string{CheckEtcdVersions}},
		{"a skipped check (check without the snapshot) does not shut it", []ReadinessCheck{{Name: CheckAutomation, Skipped: "snapshot on cp-1"}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ReadinessReport{Checks: tc.checks}
			r.applyOverrides(tc.overrides)
			var got []string
			for _, b := range r.Blocking() {
				got = append(got, b.Name)
			}
			if !reflect.DeepEqual(got, tc.blocking) {
				t.Fatalf("blocking %v, want %v", got, tc.blocking)
			}
			err := r.Err()
			if (err != nil) != (len(tc.blocking) > 0) {
				t.Fatalf("Err() = %v with blocking %v", err, tc.blocking)
			}
			for _, b := range tc.blocking {
				if !strings.Contains(err.Error(), "readiness check "+b+" failed: "+b+" is wrong") {
					t.Errorf("the error does not name %s and its problem: %v", b, err)
				}
			}
			text := r.Text()
			for _, c := range tc.checks {
				if !strings.Contains(text, "readiness "+c.Name) {
					t.Errorf("the report does not show %s:\n%s", c.Name, text)
				}
			}
			if len(tc.overrides) > 0 && len(tc.blocking) == 0 && !strings.Contains(text, "OVERRIDDEN") {
				t.Errorf("an override is not shown:\n%s", text)
			}
		})
	}
}

func TestAMembersCertificateMustNameEveryHostTheRestoreGivesIt(t *testing.T) {
	now := time.Now()
	cert := func(dns []string, ips []string, notAfter time.Time) []byte {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cp-1"}, DNSNames: dns,
			NotBefore: now.Add(-time.Hour), NotAfter: notAfter}
		for _, ip := range ips {
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		urls []string
		want string
	}{
		{"IP and name covered", cert([]string{"cp-1"}, []string{"10.0.0.11", "127.0.0.1"}, now.Add(time.Hour)),
			[]string{"https://10.0.0.11:2380", "https://cp-1:2380"}, ""},
		{"a member moved to an address its certificate lacks", cert(nil, []string{"10.0.0.11"}, now.Add(time.Hour)),
			[]string{"https://10.0.0.99:2380"}, "does not name 10.0.0.99"},
		{"an expired certificate", cert(nil, []string{"10.0.0.11"}, now.Add(-time.Minute)),
			[]string{"https://10.0.0.11:2380"}, "is not valid now"},
		{"plain http needs no certificate name", cert(nil, nil, now.Add(time.Hour)), []string{"http://10.0.0.11:2380"}, ""},
		{"not a certificate", []byte("garbage"), []string{"https://10.0.0.11:2380"}, "holds no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := certCovers(tc.pem, tc.urls, now)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("certCovers = %q, want %q", got, tc.want)
			}
		})
	}
}

// The step-1 gate shows a check that passed as one line and a check that
// did not with all it found, so what the gate does stays on its first screen.
func TestTheGateSummaryKeepsOnlyTheFindingsOfChecksThatDidNotPass(t *testing.T) {
	ok := ReadinessCheck{Name: "ca-era", Title: "CA", OK: true, Found: []string{"snapshot: CA x"},
		Nodes: []ReadinessNode{{Node: "cp-1", OK: true, Found: "ca.crt is x"}}}
	bad := ReadinessCheck{Name: "encryption-at-rest", Title: "keys", Found: []string{"snapshot: key k"},
		Nodes: []ReadinessNode{{Node: "cp-2", Found: "lacks k"}}, Problem: "restore the key"}
	over := bad
	over.Name, over.Overridden = "automation", true
	for _, tc := range []struct {
		name  string
		check ReadinessCheck
		lines int
	}{
		{"passed: its title only", ok, 1},
		{"failed: what it found, per node, and the problem", bad, 4},
		{"overridden: shown whole, the operator chose it", over, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadinessReport{Checks: []ReadinessCheck{tc.check}}.Summary()
			if len(got) != tc.lines {
				t.Fatalf("summary has %d lines, want %d:\n%s", len(got), tc.lines, strings.Join(got, "\n"))
			}
			if full := (ReadinessReport{Checks: []ReadinessCheck{tc.check}}).Lines(); got[0] != full[0] {
				t.Errorf("summary starts %q, the report %q", got[0], full[0])
			}
		})
	}
}
