package lab

import (
	"bytes"
	"testing"
)

// The rotation fault, run from a process that did not make the lab, reads
// the keys back from the config the apiservers hold: the two must agree.
func TestTheEncryptionConfigGivesBackItsKeysInOrder(t *testing.T) {
	k1, err := newEncKey("lab-key-1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := newEncKey("lab-key-2")
	if err != nil {
		t.Fatal(err)
	}
	data := encryptionConfigYAML([]encKey{k2, k1})
	ms := encKeyRE.FindAllSubmatch(data, -1)
	if len(ms) != 2 || string(ms[0][1]) != "lab-key-2" || string(ms[1][1]) != "lab-key-1" {
		t.Fatalf("keys read back %q from:\n%s", ms, data)
	}
	if !bytes.Contains(data, []byte("- identity: {}")) || !bytes.Contains(data, []byte("- secrets")) {
		t.Errorf("the config does not encrypt Secrets with identity last:\n%s", data)
	}
}
