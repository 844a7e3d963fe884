package ciphersuite_test

import (
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestValidateHPKEPublicKey(t *testing.T) {
	for _, id := range ciphersuite.IDs() {
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		_, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ValidateHPKEPublicKey(pub); err != nil {
			t.Errorf("%v: fresh key rejected: %v", id, err)
		}
		if s.ValidateHPKEPublicKey(pub[:len(pub)-1]) == nil {
			t.Errorf("%v: short key accepted", id)
		}
		if s.ValidateHPKEPublicKey(append(pub[:len(pub):len(pub)], 0)) == nil {
			t.Errorf("%v: long key accepted", id)
		}
		// Decide by the suite, not by the key's first byte: a random X-Wing
		// or ML-KEM key starts with 0x04 one time in 256.
		if k := s.Spec().KEM; k == ciphersuite.KEMDHKEMP256 || k == ciphersuite.KEMDHKEMP384 || k == ciphersuite.KEMDHKEMP521 {
			// An uncompressed NIST point: move it off the curve.
			bad := append([]byte(nil), pub...)
			bad[len(bad)-1] ^= 1
			if s.ValidateHPKEPublicKey(bad) == nil {
				t.Errorf("%v: point off the curve accepted", id)
			}
		}
		if s.Spec().KEM != ciphersuite.KEMDHKEMP256 && s.Spec().KEM != ciphersuite.KEMDHKEMP384 && s.Spec().KEM != ciphersuite.KEMDHKEMP521 &&
			s.Spec().KEM != ciphersuite.KEMDHKEMX25519 && s.Spec().KEM != ciphersuite.KEMDHKEMX448 {
			// ML-KEM and the hybrids start with ek_PQ: a first coefficient
			// of 0xFFF is not reduced mod q (FIPS 203 section 7.2), so
			// encapsulation would refuse the key.
			bad := append([]byte(nil), pub...)
			bad[0], bad[1] = 0xff, bad[1]|0x0f
			if s.ValidateHPKEPublicKey(bad) == nil {
				t.Errorf("%v: ML-KEM key failing the modulus check accepted", id)
			}
			if _, _, err := s.EncryptWithLabel(bad, "x", nil, nil); err == nil {
				t.Errorf("%v: encryption to a key failing the modulus check succeeded", id)
			}
		}
	}
}
