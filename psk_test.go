package mls

import (
	"bytes"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestComputePSKSecretNone(t *testing.T) {
	for _, id := range ciphersuite.IDs() {
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, psks := range [][]PSKInput{nil, {}} {
			got, err := ComputePSKSecret(s, psks)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, make([]byte, s.HashSize())) {
				t.Errorf("%v: psk_secret of no PSKs is %x, want %d zero bytes", id, got, s.HashSize())
			}
		}
	}
}

func TestComputePSKSecretOrderAndIdentity(t *testing.T) {
	s := ksSuite(t)
	a := PSKInput{ID: []byte{1, 1, 'a', 1, 0}, Secret: bytes.Repeat([]byte{1}, 32)}
	b := PSKInput{ID: []byte{1, 1, 'b', 1, 0}, Secret: bytes.Repeat([]byte{2}, 32)}
	ab, err := ComputePSKSecret(s, []PSKInput{a, b})
	if err != nil {
		t.Fatal(err)
	}
	ba, err := ComputePSKSecret(s, []PSKInput{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ab, ba) {
		t.Error("PSK order does not change psk_secret")
	}
	// The same secret under another ID must give another psk_secret: the
	// ID is bound through PSKLabel.
	a2 := PSKInput{ID: []byte{1, 1, 'c', 1, 0}, Secret: a.Secret}
	a2b, err := ComputePSKSecret(s, []PSKInput{a2, b})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ab, a2b) {
		t.Error("PSK ID does not change psk_secret")
	}
}

func TestComputePSKSecretTooMany(t *testing.T) {
	if _, err := ComputePSKSecret(ksSuite(t), make([]PSKInput, 1<<16)); err == nil {
		t.Error("65536 PSKs accepted")
	}
}

func ksSuite(t testing.TB) *ciphersuite.Suite {
	t.Helper()
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
