package ciphersuite_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestSignVerify(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		k, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		if k.Suite() != s.ID() {
			t.Fatalf("key suite %v", k.Suite())
		}
		content := []byte("leaf node tbs")
		sig, err := s.SignWithLabel(k, "LeafNodeTBS", content)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", content, sig); err != nil {
			t.Fatal(err)
		}

		// Parsing the encoded private key gives the same key.
		k2, err := s.ParseSigningKey(k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k2.PublicKey(), k.PublicKey()) || !bytes.Equal(k2.Bytes(), k.Bytes()) {
			t.Fatal("parsed key differs")
		}
		sig2, err := s.SignWithLabel(k2, "LeafNodeTBS", content)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", content, sig2); err != nil {
			t.Fatal(err)
		}

		other, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		tamperedSig := append([]byte(nil), sig...)
		tamperedSig[len(tamperedSig)/2] ^= 1
		wrong := map[string]error{
			"tampered content": s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", []byte("leaf node tbS"), sig),
			"wrong label":      s.VerifyWithLabel(k.PublicKey(), "GroupInfoTBS", content, sig),
			"label split":      s.VerifyWithLabel(k.PublicKey(), "LeafNode", []byte("TBSleaf node tbs"), sig),
			"wrong key":        s.VerifyWithLabel(other.PublicKey(), "LeafNodeTBS", content, sig),
			"tampered sig":     s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", content, tamperedSig),
			"short sig":        s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", content, sig[:len(sig)-1]),
			"empty sig":        s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", content, nil),
		}
		for what, err := range wrong {
			if !errors.Is(err, ciphersuite.ErrVerification) {
				t.Errorf("%s: %v, want ErrVerification", what, err)
			}
		}
		for i, pub := range badSignaturePublicKeys(s, k.PublicKey()) {
			err := s.VerifyWithLabel(pub, "LeafNodeTBS", content, sig)
			if err == nil || errors.Is(err, ciphersuite.ErrVerification) {
				t.Errorf("malformed public key %d: %v, want a malformed-key error", i, err)
			}
		}
		// A key one byte short is not listed: ECDSA accepts scalars without
		// leading zeros (the official vectors hold such P-521 keys).
		for i, priv := range [][]byte{nil, append(append([]byte(nil), k.Bytes()...), 0)} {
			if _, err := s.ParseSigningKey(priv); err == nil {
				t.Errorf("malformed private key %d accepted", i)
			}
		}
	})
}

// badSignaturePublicKeys returns encodings that are not public keys: wrong
// lengths and, for ECDSA, points off the curve or not uncompressed.
func badSignaturePublicKeys(s *ciphersuite.Suite, pub []byte) [][]byte {
	bad := [][]byte{nil, pub[:len(pub)-1], append(append([]byte(nil), pub...), 0)}
	// Decide by the scheme, not by the key's bytes: an Ed448 key (57 bytes)
	// starts with 0x04 one time in 256.
	switch s.Spec().Signature {
	case ciphersuite.SignatureECDSAP256SHA256, ciphersuite.SignatureECDSAP384SHA384, ciphersuite.SignatureECDSAP521SHA512:
		// An uncompressed SEC1 point.
		off := append([]byte(nil), pub...)
		off[len(off)-1] ^= 1
		compressed := append([]byte{2 + pub[len(pub)-1]&1}, pub[1:1+len(pub)/2]...)
		bad = append(bad, off, compressed, make([]byte, len(pub)))
	}
	return bad
}

func TestNISTPrivateKeyRange(t *testing.T) {
	for _, id := range []ciphersuite.ID{ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521, ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384} {
		s, _ := ciphersuite.Lookup(id)
		k, _ := s.GenerateSigningKey()
		n := len(k.Bytes())
		for _, priv := range [][]byte{make([]byte, n), bytes.Repeat([]byte{0xff}, n)} {
			if _, err := s.ParseSigningKey(priv); err == nil {
				t.Errorf("%v: scalar %x... accepted", id, priv[:2])
			}
		}
	}
}

func TestSigningKeyAcrossSuites(t *testing.T) {
	s1, _ := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	s3, _ := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519)
	s2, _ := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256)
	k, err := s1.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	// Suites 1 and 3 share Ed25519, so the key works in both.
	sig, err := s3.SignWithLabel(k, "L", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.VerifyWithLabel(k.PublicKey(), "L", nil, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.SignWithLabel(k, "L", nil); err == nil {
		t.Fatal("Ed25519 key signed as ECDSA")
	}
	// So does a post-quantum suite with Ed25519 signatures, and no ML-DSA one.
	xwing, _ := ciphersuite.Lookup(ciphersuite.MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519)
	if sig, err := xwing.SignWithLabel(k, "L", nil); err != nil || s1.VerifyWithLabel(k.PublicKey(), "L", nil, sig) != nil {
		t.Fatalf("Ed25519 key in an X-Wing suite: %v", err)
	}
	mldsa, _ := ciphersuite.Lookup(ciphersuite.MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65)
	if _, err := mldsa.SignWithLabel(k, "L", nil); err == nil {
		t.Fatal("Ed25519 key signed as ML-DSA")
	}
	if _, err := s1.SignWithLabel(nil, "L", nil); err == nil {
		t.Fatal("nil key signed")
	}
	if _, err := s1.SignWithLabel(&ciphersuite.SigningKey{}, "L", nil); err == nil {
		t.Fatal("zero key signed")
	}
}

func TestSigningKeyRedacted(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		k, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		secret := hex.EncodeToString(k.Bytes())
		for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
			for _, v := range []any{k, *k} {
				out := fmt.Sprintf(f, v)
				if f != "%x" && !strings.Contains(out, "redacted") {
					t.Errorf("%s of %T: %q not redacted", f, v, out)
				}
				if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprint(k.Bytes())) {
					t.Errorf("%s of %T leaks the key", f, v)
				}
			}
		}
	})
}

func TestUnknownSuite(t *testing.T) {
	for _, id := range []ciphersuite.ID{0x0000, 0x0008, 0xf0a0, 0xffff} {
		s, err := ciphersuite.Lookup(id)
		if !errors.Is(err, ciphersuite.ErrUnsupportedSuite) || s != nil {
			t.Errorf("Lookup(%v) = %v, %v", id, s, err)
		}
	}
}

func TestSignOfficialVectorsWithOtherLabels(t *testing.T) {
	// The vector signatures verify only under their own label and content.
	for _, c := range basicsVectors(t) {
		s, _ := ciphersuite.Lookup(c.CipherSuite)
		v := c.SignWithLabel
		if err := s.VerifyWithLabel(v.Pub, v.Label, v.Content, v.Signature); err != nil {
			t.Errorf("suite %v: %v", c.CipherSuite, err)
		}
		if err := s.VerifyWithLabel(v.Pub, v.Label+"x", v.Content, v.Signature); !errors.Is(err, ciphersuite.ErrVerification) {
			t.Errorf("suite %v other label: %v", c.CipherSuite, err)
		}
	}
}
