package ciphersuite_test

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha3"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// stdSuite returns the crypto/hpke algorithms of s, or ok false when
// crypto/hpke lacks its KEM: DHKEM(X448), ML-KEM-512 and OpenMLS's X-Wing
// under KEM ID 0x004D. Those are checked against the official MLS vectors,
// the draft-ietf-hpke-pq vectors (TestHPKEPQVectors), ts-mls's outputs and
// by agreement instead.
func stdSuite(t *testing.T, s *ciphersuite.Suite) (k hpke.KEM, kdf hpke.KDF, aead hpke.AEAD, ok bool) {
	spec := s.Spec()
	k, err := hpke.NewKEM(spec.KEM.HPKEID())
	if err != nil {
		switch spec.KEM {
		case ciphersuite.KEMDHKEMX448, ciphersuite.KEMMLKEM512, ciphersuite.KEMMLKEM512TSMLS, ciphersuite.KEMXWingOpenMLS:
			return nil, nil, nil, false
		}
		t.Fatalf("crypto/hpke lacks KEM %v: %v", spec.KEM, err)
	}
	if kdf, err = hpke.NewKDF(uint16(spec.KDF)); err != nil {
		t.Fatal(err)
	}
	if aead, err = hpke.NewAEAD(uint16(spec.AEAD)); err != nil {
		t.Fatal(err)
	}
	return k, kdf, aead, true
}

// forEachStdSuite runs f for every suite whose KEM crypto/hpke implements.
func forEachStdSuite(t *testing.T, f func(t *testing.T, s *ciphersuite.Suite, k hpke.KEM, kdf hpke.KDF, aead hpke.AEAD)) {
	for _, s := range allSuites(t) {
		k, kdf, aead, ok := stdSuite(t, s)
		if !ok {
			continue
		}
		t.Run(suiteName(s), func(t *testing.T) { f(t, s, k, kdf, aead) })
	}
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

// TestDeriveHPKEKeyPairAgainstStdlib checks DeriveKeyPair against
// crypto/hpke: its DeriveKeyPair for the standard conventions, and for the
// others the convention's seed (SHAKE256(ikm, 32), or ikm itself) expanded
// by crypto/hpke's NewPrivateKey. ML-KEM-512 and X448, which crypto/hpke
// lacks, are covered by TestHPKEPQVectors and the MLS key-schedule vectors.
func TestDeriveHPKEKeyPairAgainstStdlib(t *testing.T) {
	for _, s := range allSuites(t) {
		kemID := s.Spec().KEM.HPKEID()
		if s.Spec().KEM == ciphersuite.KEMXWingOpenMLS {
			kemID = hpke.MLKEM768X25519().ID() // the same X-Wing under another ID
		}
		k, err := hpke.NewKEM(kemID)
		if err != nil {
			continue
		}
		t.Run(suiteName(s), func(t *testing.T) {
			for size := range 67 { // 64 is the size ts-mls's ML-KEM needs
				ikm := make([]byte, size)
				rand.Read(ikm)
				priv, pub, err := s.DeriveHPKEKeyPair(ikm)
				kem := s.Spec().KEM
				rawSeed := kem == ciphersuite.KEMMLKEM768TSMLS || kem == ciphersuite.KEMMLKEM1024TSMLS
				if rawSeed && len(ikm) != 64 {
					if err == nil {
						t.Fatalf("%d-byte ikm accepted", len(ikm))
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var std hpke.PrivateKey
				switch {
				case kem == ciphersuite.KEMXWingOpenMLS || kem == ciphersuite.KEMXWingTSMLS:
					std, err = k.NewPrivateKey(sha3.SumSHAKE256(ikm, 32))
				case rawSeed:
					std, err = k.NewPrivateKey(ikm)
				default:
					std, err = k.DeriveKeyPair(ikm)
				}
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
	if len(seen) != len(rfcSuites) {
		t.Fatalf("vectors cover %d suites, want all %d RFC 9420 suites", len(seen), len(rfcSuites))
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

// kemShape gives the family of a suite's KEM and, for ML-KEM and the
// hybrids, the sizes of the ML-KEM encapsulation key and ciphertext, which
// come first in a hybrid's public key and kem output.
func kemShape(k ciphersuite.KEM) (family string, ekSize, ctSize int) {
	switch k {
	case ciphersuite.KEMMLKEM512, ciphersuite.KEMMLKEM512TSMLS:
		return "mlkem", 800, 768
	case ciphersuite.KEMMLKEM768, ciphersuite.KEMMLKEM768TSMLS:
		return "mlkem", 1184, 1088
	case ciphersuite.KEMMLKEM1024, ciphersuite.KEMMLKEM1024TSMLS:
		return "mlkem", 1568, 1568
	case ciphersuite.KEMXWing, ciphersuite.KEMXWingOpenMLS, ciphersuite.KEMXWingTSMLS, ciphersuite.KEMMLKEM768P256:
		return "hybrid", 1184, 1088
	case ciphersuite.KEMMLKEM1024P384:
		return "hybrid", 1568, 1568
	}
	return "dhkem", 0, 0
}

// badPoints returns malformed encodings in place of the curve point p:
// low-order X25519 and X448 points, NIST points off the curve, compressed
// or zero.
func badPoints(p []byte) [][]byte {
	switch len(p) {
	case 32:
		return lowOrderX25519
	case 56:
		return lowOrderX448
	}
	off := append([]byte(nil), p...)
	off[len(off)-1] ^= 1 // y changes, x stays: off the curve
	compressed := append([]byte{2 + p[len(p)-1]&1}, p[1:1+len(p)/2]...)
	return [][]byte{off, compressed, make([]byte, len(p))}
}

func prefixed(prefix []byte, tails [][]byte) [][]byte {
	out := make([][]byte, len(tails))
	for i, t := range tails {
		out[i] = append(append([]byte(nil), prefix...), t...)
	}
	return out
}

// unreduced returns ek with its first coefficient 0xfff, not below q = 3329:
// the modulus check of FIPS 203 section 7.2 must reject it.
func unreduced(ek []byte) []byte {
	b := append([]byte(nil), ek...)
	b[0], b[1] = 0xff, b[1]|0x0f
	return b
}

func wrongLengths(b []byte) [][]byte {
	return [][]byte{nil, b[:len(b)-1], append(append([]byte(nil), b...), 0)}
}

// badPublicKeys returns encodings that are not public keys of s's KEM.
func badPublicKeys(s *ciphersuite.Suite, pub []byte) [][]byte {
	bad := wrongLengths(pub)
	switch family, ek, _ := kemShape(s.Spec().KEM); family {
	case "dhkem":
		bad = append(bad, badPoints(pub)...)
	case "mlkem":
		bad = append(bad, unreduced(pub))
	case "hybrid":
		bad = append(bad, unreduced(pub))
		bad = append(bad, prefixed(pub[:ek], badPoints(pub[ek:]))...)
	}
	return bad
}

// badKEMOutputs returns kem outputs that must be rejected as malformed, not
// as failed decryptions. Any ML-KEM ciphertext of the right size is well
// formed (decapsulation rejects implicitly), so only the curve part of a
// hybrid's can be.
func badKEMOutputs(s *ciphersuite.Suite, enc []byte) [][]byte {
	bad := wrongLengths(enc)
	switch family, _, ct := kemShape(s.Spec().KEM); family {
	case "dhkem":
		bad = append(bad, badPoints(enc)...)
	case "hybrid":
		bad = append(bad, prefixed(enc[:ct], badPoints(enc[ct:]))...)
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
		}
		for i, bad := range badKEMOutputs(s, kemOut) {
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
		switch s.Spec().KEM {
		case ciphersuite.KEMDHKEMP256, ciphersuite.KEMDHKEMP384, ciphersuite.KEMDHKEMP521:
			// Zero and scalars not below the order are invalid.
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

// FuzzHPKEAgainstStdlib checks Arbor's HPKE against crypto/hpke on fuzzed
// keys (derived from a fuzzed ikm), labels, contexts and plaintexts, in
// every suite whose KEM crypto/hpke implements: each side opens what the
// other seals.
func FuzzHPKEAgainstStdlib(f *testing.F) {
	type stdAlgs struct {
		s    *ciphersuite.Suite
		k    hpke.KEM
		kdf  hpke.KDF
		aead hpke.AEAD
	}
	var suites []stdAlgs
	for _, s := range allSuites(f) {
		spec := s.Spec()
		k, err := hpke.NewKEM(spec.KEM.HPKEID())
		if err != nil {
			continue // X448, ML-KEM-512, OpenMLS's X-Wing ID: see stdSuite
		}
		kdf, err1 := hpke.NewKDF(uint16(spec.KDF))
		aead, err2 := hpke.NewAEAD(uint16(spec.AEAD))
		if err1 != nil || err2 != nil {
			f.Fatal(err1, err2)
		}
		suites = append(suites, stdAlgs{s, k, kdf, aead})
	}
	f.Add(uint8(0), bytes.Repeat([]byte{1}, 64), "Welcome", []byte("ctx"), []byte("plaintext"))
	f.Add(uint8(3), bytes.Repeat([]byte{2}, 64), "", []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, n uint8, ikm []byte, label string, context, pt []byte) {
		a := suites[int(n)%len(suites)]
		label, context = label[:min(len(label), 40)], context[:min(len(context), 60)]
		priv, pub, err := a.s.DeriveHPKEKeyPair(ikm)
		if err != nil {
			return
		}
		stdPriv, err := a.k.NewPrivateKey(priv)
		if err != nil {
			t.Fatalf("crypto/hpke refuses our private key: %v", err)
		}
		if !bytes.Equal(stdPriv.PublicKey().Bytes(), pub) {
			t.Fatal("public keys differ")
		}
		info := encryptContext(label, context)
		kemOut, ct, err := a.s.EncryptWithLabel(pub, label, context, pt)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hpke.NewRecipient(kemOut, stdPriv, a.kdf, a.aead, info)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := r.Open(nil, ct); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("crypto/hpke opens ours: %q, %v", got, err)
		}
		kemOut, sender, err := hpke.NewSender(stdPriv.PublicKey(), a.kdf, a.aead, info)
		if err != nil {
			t.Fatal(err)
		}
		ct, err = sender.Seal(nil, pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := a.s.DecryptWithLabel(priv, label, context, kemOut, ct); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("ours opens crypto/hpke's: %q, %v", got, err)
		}
	})
}

// TestHPKEImplementationChoice checks that the HPKE of the suites crypto/hpke
// covers is crypto/hpke's exactly when the process runs the standard
// library's crypto: sealing to a low-order X25519 key is refused by both,
// and the error says which refused.
func TestHPKEImplementationChoice(t *testing.T) {
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.EncryptWithLabel(make([]byte, 32), "l", nil, []byte("p"))
	if err == nil {
		t.Fatal("sealed to a low-order X25519 key")
	}
	byStd := strings.HasPrefix(err.Error(), "ciphersuite: crypto/hpke: ")
	if byStd != ciphersuite.StandardCrypto() {
		t.Fatalf("implementation %s: error %q", ciphersuite.Implementation(), err)
	}
}
