package ciphersuite_test

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
	"github.com/arbormls/mls/ciphersuite"
)

const batchLabel = "LeafNodeTBS"

func ed25519Suite(t testing.TB) *ciphersuite.Suite {
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validBatch returns n distinct valid signatures.
func validBatch(t testing.TB, s *ciphersuite.Suite, n int) []ciphersuite.BatchItem {
	items := make([]ciphersuite.BatchItem, n)
	for i := range items {
		k, err := s.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		content := fmt.Appendf(nil, "leaf %d", i)
		sig, err := s.SignWithLabel(k, batchLabel, content)
		if err != nil {
			t.Fatal(err)
		}
		items[i] = ciphersuite.BatchItem{PublicKey: k.PublicKey(), Content: content, Signature: sig}
	}
	return items
}

func singleVerifyAll(s *ciphersuite.Suite, items []ciphersuite.BatchItem) error {
	for _, it := range items {
		if err := s.VerifyWithLabel(it.PublicKey, batchLabel, it.Content, it.Signature); err != nil {
			return err
		}
	}
	return nil
}

func TestBatchVerifyAgreesWithSingle(t *testing.T) {
	s := ed25519Suite(t)
	if !s.CanBatchVerify() {
		t.Fatal("suite 1 cannot batch-verify")
	}
	if err := s.BatchVerifyWithLabel(batchLabel, nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
	// 33 signatures (67 points) take Straus's method, 100 (201 points) the
	// bucket method.
	for _, n := range []int{33, 100} {
		items := validBatch(t, s, n)
		if err := s.BatchVerifyWithLabel(batchLabel, items); err != nil {
			t.Fatalf("valid batch: %v", err)
		}
		if err := s.BatchVerifyWithLabel("KeyPackageTBS", items); !errors.Is(err, ciphersuite.ErrVerification) {
			t.Fatalf("other label: %v", err)
		}

		// sPlusL is a signature's s + L: the same value mod L, not canonical.
		sPlusL := func(sig []byte) []byte {
			le := func(b []byte) *big.Int {
				r := make([]byte, len(b))
				for i := range b {
					r[len(b)-1-i] = b[i]
				}
				return new(big.Int).SetBytes(r)
			}
			L, _ := new(big.Int).SetString("7237005577332262213973186563042994961290120455894689211990239", 10)
			L.Add(L, new(big.Int).Lsh(big.NewInt(1), 252))
			v := le(sig[32:])
			v.Add(v, L)
			out := append([]byte(nil), sig[:32]...)
			be := v.FillBytes(make([]byte, 32))
			for i := range be {
				out = append(out, be[31-i])
			}
			return out
		}
		other := validBatch(t, s, 1)
		corrupt := map[string]func(it *ciphersuite.BatchItem){
			"content":   func(it *ciphersuite.BatchItem) { it.Content = append([]byte("x"), it.Content...) },
			"R":         func(it *ciphersuite.BatchItem) { it.Signature[3] ^= 1 },
			"s":         func(it *ciphersuite.BatchItem) { it.Signature[40] ^= 1 },
			"s+L":       func(it *ciphersuite.BatchItem) { it.Signature = sPlusL(it.Signature) },
			"short sig": func(it *ciphersuite.BatchItem) { it.Signature = it.Signature[:63] },
			"other key": func(it *ciphersuite.BatchItem) { it.PublicKey = other[0].PublicKey },
			"key off curve": func(it *ciphersuite.BatchItem) {
				it.PublicKey = append([]byte{2}, make([]byte, 31)...) // y = 2 is not on the curve
			},
		}
		for name, f := range corrupt {
			for _, at := range []int{0, 17, n - 1} {
				bad := make([]ciphersuite.BatchItem, len(items))
				for i, it := range items {
					bad[i] = ciphersuite.BatchItem{PublicKey: it.PublicKey, Content: it.Content, Signature: append([]byte(nil), it.Signature...)}
				}
				f(&bad[at])
				if singleVerifyAll(s, bad) == nil {
					t.Fatalf("%s at %d: single verification accepts the corrupted batch", name, at)
				}
				if err := s.BatchVerifyWithLabel(batchLabel, bad); !errors.Is(err, ciphersuite.ErrVerification) {
					t.Errorf("%s at %d: batch gave %v, want ErrVerification", name, at, err)
				}
			}
		}
		bad := append([]ciphersuite.BatchItem(nil), items...)
		bad[5].PublicKey = bad[5].PublicKey[:31]
		if err := s.BatchVerifyWithLabel(batchLabel, bad); err == nil || errors.Is(err, ciphersuite.ErrVerification) {
			t.Errorf("short public key: %v, want a malformed-key error", err)
		}
	}
}

func TestBatchVerifyUnsupported(t *testing.T) {
	s, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256)
	if err != nil {
		t.Fatal(err)
	}
	if s.CanBatchVerify() {
		t.Fatal("P-256 suite claims batch verification")
	}
	if err := s.BatchVerifyWithLabel(batchLabel, nil); !errors.Is(err, ciphersuite.ErrBatchUnsupported) {
		t.Fatalf("got %v", err)
	}
}

// orderEightPoint returns a point of order 8: [L]P for some P is in the
// torsion subgroup; one of order 8 is found in a few tries.
func orderEightPoint(t *testing.T) *edwards25519.Point {
	minusOne := edwards25519.NewScalar().Negate(edwards25519.NewScalar().Add(edwards25519.NewScalar(), oneScalar()))
	for y := byte(3); y < 200; y++ {
		enc := make([]byte, 32)
		enc[0] = y
		p, err := new(edwards25519.Point).SetBytes(enc)
		if err != nil {
			continue
		}
		// [L-1]P + P = [L]P.
		tp := new(edwards25519.Point).ScalarMult(minusOne, p)
		tp.Add(tp, p)
		four := new(edwards25519.Point).Add(tp, tp)
		four.Add(four, four)
		if four.Equal(edwards25519.NewIdentityPoint()) != 1 {
			return tp
		}
	}
	t.Fatal("no point of order 8 found")
	return nil
}

func oneScalar() *edwards25519.Scalar {
	b := make([]byte, 32)
	b[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b)
	return s
}

// forge signs content with k's secret scalar and a nonce point R = [r]B +
// extra whose encoding is rEnc (R's own when rEnc is nil), as only a
// signer bent on it would.
func forge(t *testing.T, k *ciphersuite.SigningKey, r *edwards25519.Scalar, extra *edwards25519.Point, rEnc, content []byte) []byte {
	h := sha512.Sum512(k.Bytes())
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	R := new(edwards25519.Point).ScalarBaseMult(r)
	if extra != nil {
		R.Add(R, extra)
	}
	if rEnc == nil {
		rEnc = R.Bytes()
	}
	// The message crypto/ed25519 signs: SignContent{"MLS 1.0 " + label, content}.
	msg := []byte{byte(len("MLS 1.0 " + batchLabel))}
	msg = append(msg, "MLS 1.0 "+batchLabel...)
	msg = append(msg, byte(len(content)))
	msg = append(msg, content...)
	hh := sha512.New()
	hh.Write(rEnc)
	hh.Write(k.PublicKey())
	hh.Write(msg)
	kk, _ := edwards25519.NewScalar().SetUniformBytes(hh.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(kk, a, r)
	return append(append([]byte(nil), rEnc...), S.Bytes()...)
}

// TestBatchVerifyCofactored pins down the one documented difference: a
// signature whose R has a small-order component, made on purpose by its
// signer, fails crypto/ed25519 and passes the cofactored batch equation.
func TestBatchVerifyCofactored(t *testing.T) {
	s := ed25519Suite(t)
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	rb := make([]byte, 64)
	rb[0] = 7
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb)
	content := []byte("a leaf")
	sig := forge(t, k, r, orderEightPoint(t), nil, content)
	if err := s.VerifyWithLabel(k.PublicKey(), batchLabel, content, sig); !errors.Is(err, ciphersuite.ErrVerification) {
		t.Fatalf("single verification: %v, want ErrVerification", err)
	}
	items := append(validBatch(t, s, 3), ciphersuite.BatchItem{PublicKey: k.PublicKey(), Content: content, Signature: sig})
	if err := s.BatchVerifyWithLabel(batchLabel, items); err != nil {
		t.Fatalf("batch verification: %v, want nil (cofactored equation)", err)
	}
	// Without the torsion point the forger's signature is an honest one.
	sig = forge(t, k, r, nil, nil, content)
	if err := s.VerifyWithLabel(k.PublicKey(), batchLabel, content, sig); err != nil {
		t.Fatalf("forge without torsion: %v", err)
	}
}

// TestBatchVerifyNonCanonicalR: with r = 0, R is the identity, which
// crypto/ed25519 accepts only in its canonical encoding (y = 1, sign bit
// clear). The same point with the sign bit set decodes to the identity
// too; batch verification must refuse it as single verification does.
func TestBatchVerifyNonCanonicalR(t *testing.T) {
	s := ed25519Suite(t)
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("a leaf")
	zero := edwards25519.NewScalar()
	for _, c := range []struct {
		name string
		enc  []byte
		ok   bool
	}{
		{"canonical identity", append([]byte{1}, make([]byte, 31)...), true},
		{"identity with the sign bit", append(append([]byte{1}, make([]byte, 30)...), 0x80), false},
		{"identity as y = 1 + p", append(append([]byte{0xee}, bytesOf(0xff, 30)...), 0x7f), false},
	} {
		sig := forge(t, k, zero, nil, c.enc, content)
		single := s.VerifyWithLabel(k.PublicKey(), batchLabel, content, sig)
		batch := s.BatchVerifyWithLabel(batchLabel, []ciphersuite.BatchItem{{PublicKey: k.PublicKey(), Content: content, Signature: sig}})
		if (single == nil) != c.ok || (batch == nil) != c.ok {
			t.Errorf("%s: single %v, batch %v, want accepted=%v", c.name, single, batch, c.ok)
		}
	}
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func BenchmarkBatchVerify(b *testing.B) {
	s := ed25519Suite(b)
	for _, n := range []int{64, 1024, 4096} {
		items := validBatch(b, s, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if err := s.BatchVerifyWithLabel(batchLabel, items); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/sig")
		})
	}
}

func BenchmarkSingleVerify64(b *testing.B) {
	s := ed25519Suite(b)
	items := validBatch(b, s, 64)
	b.ResetTimer()
	for b.Loop() {
		if err := singleVerifyAll(s, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/sig")
}
