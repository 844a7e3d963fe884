package ciphersuite_test

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// stdHPKE gives the crypto/hpke algorithms of each suite whose KEM it has
// (all but the X448 suites), by the IANA code points of RFC 9420 section 17.1.
var stdHPKE = map[ciphersuite.ID][3]uint16{ // KEM, KDF, AEAD
	ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519:        {0x0020, 0x0001, 0x0001},
	ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256:             {0x0010, 0x0001, 0x0001},
	ciphersuite.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: {0x0020, 0x0001, 0x0003},
	ciphersuite.MLS_256_DHKEMP521_AES256GCM_SHA512_P521:             {0x0012, 0x0003, 0x0002},
	ciphersuite.MLS_256_DHKEMP384_AES256GCM_SHA384_P384:             {0x0011, 0x0002, 0x0002},
}

// forEachStdSuite runs f for every suite crypto/hpke supports. The X448
// suites it lacks are checked against the official vectors instead
// (TestDeriveHPKEKeyPairVectors and the crypto-basics conformance runner).
func forEachStdSuite(t *testing.T, f func(t *testing.T, s *ciphersuite.Suite, k hpke.KEM, kdf hpke.KDF, aead hpke.AEAD)) {
	if n := len(ciphersuite.IDs()) - len(stdHPKE); n != 2 {
		t.Fatalf("%d suites not cross-checked, want the 2 X448 suites", n)
	}
	for _, id := range ciphersuite.IDs() {
		if _, ok := stdHPKE[id]; !ok {
			continue
		}
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		k, kdf, aead := stdSuite(t, id)
		t.Run(s.Name(), func(t *testing.T) { f(t, s, k, kdf, aead) })
	}
}

func stdSuite(t *testing.T, id ciphersuite.ID) (hpke.KEM, hpke.KDF, hpke.AEAD) {
	ids := stdHPKE[id]
	k, err := hpke.NewKEM(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	kdf, err := hpke.NewKDF(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	aead, err := hpke.NewAEAD(ids[2])
	if err != nil {
		t.Fatal(err)
	}
	return k, kdf, aead
}

func TestHPKEAgainstStdlib(t *testing.T) {
	forEachStdSuite(t, func(t *testing.T, s *ciphersuite.Suite, k hpke.KEM, kdf hpke.KDF, aead hpke.AEAD) {
		label, context := "Welcome", []byte("some group info")
		info := encryptContext(label, context)
		pt := []byte("group secrets")

		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		stdPriv, err := k.NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		if got := stdPriv.PublicKey().Bytes(); !bytes.Equal(got, pub) {
			t.Fatalf("public key: crypto/hpke %x, ours %x", got, pub)
		}
		if b, _ := stdPriv.Bytes(); !bytes.Equal(b, priv) {
			t.Fatalf("serialized private key: crypto/hpke %x, ours %x", b, priv)
		}

		// Ours seals (directly and through an Encryptor), crypto/hpke opens.
		enc := s.NewEncryptor(label, context)
		for i, seal := range []func() ([]byte, []byte, error){
			func() ([]byte, []byte, error) { return s.EncryptWithLabel(pub, label, context, pt) },
			func() ([]byte, []byte, error) { return enc.Seal(pub, pt) },
		} {
			kemOut, ct, err := seal()
			if err != nil {
				t.Fatal(err)
			}
			r, err := hpke.NewRecipient(kemOut, stdPriv, kdf, aead, info)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Open(nil, ct)
			if err != nil {
				t.Fatalf("seal %d: crypto/hpke cannot open: %v", i, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("seal %d: plaintext %q", i, got)
			}
		}

		// crypto/hpke seals, ours opens.
		kemOut, sender, err := hpke.NewSender(stdPriv.PublicKey(), kdf, aead, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := sender.Seal(nil, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.DecryptWithLabel(priv, label, context, kemOut, ct)
		if err != nil {
			t.Fatalf("cannot open crypto/hpke ciphertext: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("plaintext %q", got)
		}
	})
}

func TestDeriveHPKEKeyPairAgainstStdlib(t *testing.T) {
	forEachStdSuite(t, func(t *testing.T, s *ciphersuite.Suite, k hpke.KEM, _ hpke.KDF, _ hpke.AEAD) {
		for n := range 40 {
			ikm := make([]byte, n*3)
			rand.Read(ikm)
			priv, pub, err := s.DeriveHPKEKeyPair(ikm)
			if err != nil {
				t.Fatal(err)
			}
			std, err := k.DeriveKeyPair(ikm)
			if err != nil {
				t.Fatal(err)
			}
			stdPriv, err := std.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(priv, stdPriv) || !bytes.Equal(pub, std.PublicKey().Bytes()) {
				t.Fatalf("ikm %x: ours (%x, %x), crypto/hpke (%x, %x)", ikm, priv, pub, stdPriv, std.PublicKey().Bytes())
			}
			if p, err := s.HPKEPublicKey(priv); err != nil || !bytes.Equal(p, pub) {
				t.Fatalf("HPKEPublicKey of derived key: %x, %v", p, err)
			}
		}
	})
}

// TestDeriveHPKEKeyPairVectors checks DeriveKeyPair for every suite, the X448
// ones included, through external_pub = DeriveKeyPair(external_secret).pub in
// the official key-schedule vectors (RFC 9420 section 8).
func TestDeriveHPKEKeyPairVectors(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		Epochs      []struct {
			ExternalSecret hexBytes `json:"external_secret"`
			ExternalPub    hexBytes `json:"external_pub"`
		} `json:"epochs"`
	}
	readVectors(t, "key-schedule.json", &cases)
	seen := map[ciphersuite.ID]bool{}
	for _, c := range cases {
		s, err := ciphersuite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range c.Epochs {
			_, pub, err := s.DeriveHPKEKeyPair(e.ExternalSecret)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pub, e.ExternalPub) {
				t.Errorf("suite %v epoch %d: external_pub %x, want %x", c.CipherSuite, i, pub, e.ExternalPub)
			}
		}
		seen[c.CipherSuite] = true
	}
	if len(seen) != len(ciphersuite.IDs()) {
		t.Fatalf("vectors cover %d suites, want all %d", len(seen), len(ciphersuite.IDs()))
	}
}

func TestEncryptorManyRecipients(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		context := make([]byte, 1<<20) // large, as a Welcome's GroupInfo can be
		rand.Read(context)
		enc := s.NewEncryptor("Welcome", context)
		for i := range 3 {
			priv, pub, err := s.GenerateHPKEKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			pt := fmt.Appendf(nil, "secrets of recipient %d", i)
			kemOut, ct, err := enc.Seal(pub, pt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.DecryptWithLabel(priv, "Welcome", context, kemOut, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("recipient %d: %q, %v", i, got, err)
			}
			// The label and the context are both bound.
			if _, err := s.DecryptWithLabel(priv, "Welcome2", context, kemOut, ct); !errors.Is(err, ciphersuite.ErrDecryption) {
				t.Fatalf("wrong label: %v", err)
			}
			if _, err := s.DecryptWithLabel(priv, "Welcome", context[1:], kemOut, ct); !errors.Is(err, ciphersuite.ErrDecryption) {
				t.Fatalf("wrong context: %v", err)
			}
		}
	})
}

func TestEncryptorZeroValue(t *testing.T) {
	var e *ciphersuite.Encryptor
	if _, _, err := e.Seal(nil, nil); err == nil {
		t.Fatal("nil Encryptor sealed")
	}
	if _, _, err := new(ciphersuite.Encryptor).Seal(nil, nil); err == nil {
		t.Fatal("zero Encryptor sealed")
	}
}

// lowOrder lists public keys that every DH must reject (with the zero
// point); off-curve NIST points are made by flipping a coordinate bit.
var lowOrderX25519 = [][]byte{
	make([]byte, 32),
	append([]byte{1}, make([]byte, 31)...),
}

var lowOrderX448 = [][]byte{
	make([]byte, 56),
	append([]byte{1}, make([]byte, 55)...),
}

func badPublicKeys(s *ciphersuite.Suite, pub []byte) [][]byte {
	bad := [][]byte{nil, pub[:len(pub)-1], append(append([]byte(nil), pub...), 0)}
	switch len(pub) {
	case 32:
		bad = append(bad, lowOrderX25519...)
	case 56:
		bad = append(bad, lowOrderX448...)
	default:
		off := append([]byte(nil), pub...)
		off[len(off)-1] ^= 1 // y changes, x stays: off the curve
		compressed := append([]byte{2 + pub[len(pub)-1]&1}, pub[1:1+len(pub)/2]...)
		bad = append(bad, off, compressed, make([]byte, len(pub)))
	}
	return bad
}

func TestHPKERejectsMalformed(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		kemOut, ct, err := s.EncryptWithLabel(pub, "L", nil, []byte("pt"))
		if err != nil {
			t.Fatal(err)
		}
		for i, bad := range badPublicKeys(s, pub) {
			if _, _, err := s.EncryptWithLabel(bad, "L", nil, []byte("pt")); err == nil {
				t.Errorf("bad public key %d accepted by EncryptWithLabel", i)
			}
			// The same bytes as a kem output: malformed, never a decryption.
			if _, err := s.DecryptWithLabel(priv, "L", nil, bad, ct); err == nil || errors.Is(err, ciphersuite.ErrDecryption) {
				t.Errorf("bad kem output %d: %v", i, err)
			}
		}
		for i, bad := range [][]byte{nil, priv[1:], append(append([]byte(nil), priv...), 0)} {
			if _, err := s.HPKEPublicKey(bad); err == nil {
				t.Errorf("bad private key %d accepted by HPKEPublicKey", i)
			}
			if _, err := s.DecryptWithLabel(bad, "L", nil, kemOut, ct); err == nil {
				t.Errorf("bad private key %d accepted by DecryptWithLabel", i)
			}
		}
		if len(pub) != len(priv) { // NIST curves: zero and scalars not below the order are invalid
			for _, bad := range [][]byte{make([]byte, len(priv)), bytes.Repeat([]byte{0xff}, len(priv))} {
				if _, err := s.HPKEPublicKey(bad); err == nil {
					t.Errorf("scalar %x accepted", bad[:4])
				}
			}
		}
		tampered := append([]byte(nil), ct...)
		tampered[0] ^= 1
		if _, err := s.DecryptWithLabel(priv, "L", nil, kemOut, tampered); !errors.Is(err, ciphersuite.ErrDecryption) {
			t.Errorf("tampered ciphertext: %v", err)
		}
		if _, err := s.DecryptWithLabel(priv, "L", nil, kemOut, ct[:3]); !errors.Is(err, ciphersuite.ErrDecryption) {
			t.Errorf("short ciphertext: %v", err)
		}
		other, _, _ := s.GenerateHPKEKeyPair()
		if _, err := s.DecryptWithLabel(other, "L", nil, kemOut, ct); !errors.Is(err, ciphersuite.ErrDecryption) {
			t.Errorf("wrong private key: %v", err)
		}
	})
}
