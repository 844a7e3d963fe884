package ciphersuite_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// suiteIndex is the position of id in ciphersuite.IDs(), which fuzzSuite inverts.
func suiteIndex(id ciphersuite.ID) uint8 {
	for i, x := range ciphersuite.IDs() {
		if x == id {
			return uint8(i)
		}
	}
	panic("unknown suite")
}

func fuzzSuite(t *testing.T, n uint8) *ciphersuite.Suite {
	ids := ciphersuite.IDs()
	s, err := ciphersuite.Lookup(ids[int(n)%len(ids)])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzVerifyWithLabel feeds untrusted public keys and signatures (and the
// same bytes as private keys) to every suite: errors, never panics, and a
// valid-looking private key must sign verifiably.
func FuzzVerifyWithLabel(f *testing.F) {
	for _, c := range basicsVectors(f) {
		v := c.SignWithLabel
		i := suiteIndex(c.CipherSuite)
		f.Add(i, v.Label, []byte(v.Pub), []byte(v.Content), []byte(v.Signature))
		f.Add(i, v.Label, []byte(v.Priv), []byte(v.Content), []byte(v.Signature[:len(v.Signature)/2]))
	}
	f.Fuzz(func(t *testing.T, n uint8, label string, pub, content, sig []byte) {
		s := fuzzSuite(t, n)
		s.VerifyWithLabel(pub, label, content, sig)
		k, err := s.ParseSigningKey(pub)
		if err != nil {
			return
		}
		sig2, err := s.SignWithLabel(k, label, content)
		if err != nil {
			t.Fatalf("sign with parsed key: %v", err)
		}
		if err := s.VerifyWithLabel(k.PublicKey(), label, content, sig2); err != nil {
			t.Fatalf("own signature: %v", err)
		}
	})
}

// FuzzBatchVerify feeds untrusted keys and signatures to Ed25519 batch
// verification, alone and in a batch of valid ones: errors, never panics;
// whatever single verification accepts, the batch accepts too, and a
// batch of one that single verification refuses holds only when the
// cofactor-free check alone is what failed (never for a malformed input).
func FuzzBatchVerify(f *testing.F) {
	for _, c := range basicsVectors(f) {
		if c.CipherSuite != ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 {
			continue
		}
		v := c.SignWithLabel
		f.Add(v.Label, []byte(v.Pub), []byte(v.Content), []byte(v.Signature))
		f.Add(v.Label, []byte(v.Pub), []byte(v.Content), append([]byte{1}, make([]byte, 63)...))
	}
	f.Fuzz(func(t *testing.T, label string, pub, content, sig []byte) {
		s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		single := s.VerifyWithLabel(pub, label, content, sig)
		batch := s.BatchVerifyWithLabel(label, []ciphersuite.BatchItem{{PublicKey: pub, Content: content, Signature: sig}})
		if single == nil && batch != nil {
			t.Fatalf("single verification accepts, batch refuses: %v", batch)
		}
		if batch == nil && single != nil && (len(pub) != 32 || len(sig) != 64) {
			t.Fatal("batch accepts a malformed signature")
		}
	})
}

// FuzzDecryptWithLabel feeds untrusted private keys, kem outputs and
// ciphertexts to every suite's HPKE: errors, never panics; a kem output
// that parses as a public key must be encryptable to.
func FuzzDecryptWithLabel(f *testing.F) {
	for _, c := range basicsVectors(f) {
		v := c.EncryptWithLabel
		i := suiteIndex(c.CipherSuite)
		f.Add(i, v.Label, []byte(v.Context), []byte(v.Priv), []byte(v.KEMOutput), []byte(v.Ciphertext))
		f.Add(i, v.Label, []byte(v.Context), []byte(v.Pub), []byte(v.Pub), []byte(v.Ciphertext[1:]))
	}
	f.Fuzz(func(t *testing.T, n uint8, label string, context, priv, kemOutput, ct []byte) {
		s := fuzzSuite(t, n)
		s.DecryptWithLabel(priv, label, context, kemOutput, ct)
		if pub, err := s.HPKEPublicKey(priv); err == nil {
			ko, c, err := s.EncryptWithLabel(pub, label, context, ct)
			if err != nil {
				t.Fatalf("encrypt to the key of a valid private key: %v", err)
			}
			pt, err := s.DecryptWithLabel(priv, label, context, ko, c)
			if err != nil || !bytes.Equal(pt, ct) {
				t.Fatalf("round trip: %v", err)
			}
		}
		if _, _, err := s.EncryptWithLabel(kemOutput, label, context, ct); err != nil && errors.Is(err, ciphersuite.ErrDecryption) {
			t.Fatalf("encryption reported a decryption error: %v", err)
		}
	})
}
