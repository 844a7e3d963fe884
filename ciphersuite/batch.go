package ciphersuite

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"

	"filippo.io/edwards25519"
)

// BatchItem is one signature of a batch: Signature over
// SignContent{"MLS 1.0 " + label, Content} by PublicKey.
type BatchItem struct {
	PublicKey, Content, Signature []byte
}

// ErrBatchUnsupported is returned by BatchVerifyWithLabel for a suite whose
// signature scheme has no batch verification.
var ErrBatchUnsupported = errors.New("ciphersuite: batch verification not supported by this signature scheme")

// CanBatchVerify reports whether the suite's signature scheme has batch
// verification: Ed25519 only, and not with the standard library's crypto
// (StandardCrypto, which FIPS 140-3 mode implies), where signatures are
// checked by crypto/ed25519 alone (the batch equation runs on filippo.io/
// edwards25519, outside the Go Cryptographic Module, and is not FIPS
// 186-5's).
func (s *Suite) CanBatchVerify() bool { return s.sig == sigEd25519 && !stdCrypto }

// BatchVerifyWithLabel checks many signatures with the same label at once,
// for about half the cost of checking them one by one. It returns nil
// when the batch holds, and ErrVerification when it does not (another
// error for a public key of the wrong length, as VerifyWithLabel), without
// saying which signature failed: check them one by one with VerifyWithLabel
// to find out. It returns ErrBatchUnsupported when CanBatchVerify is false.
//
// Batch verification is NOT equivalent to VerifyWithLabel. It checks the
// cofactored equation [8][s]B = [8]R + [8][k]A (RFC 8032 section 5.1.7
// allows either), so it also accepts a signature whose R or A carries a
// small-order component, which only a signer who set out to do so can
// make, and which VerifyWithLabel (cofactorless, as crypto/ed25519) and most
// other MLS implementations reject. A malicious member could use that
// difference to split a group whose members do not all batch-verify.
// Use it only where that risk is accepted, behind an explicit option.
//
// Everything else matches VerifyWithLabel: keys and signatures of the wrong
// length, public keys off the curve, non-canonical R encodings and scalars
// s >= L fail, and a batch that VerifyWithLabel accepts in full always
// holds.
func (s *Suite) BatchVerifyWithLabel(label string, items []BatchItem) error {
	if !s.CanBatchVerify() {
		return ErrBatchUnsupported
	}
	return ed25519BatchVerify(label, items)
}

// ed25519BatchVerify checks
//
//	[8] ( [-sum z_i s_i] B + sum [z_i] R_i + sum [z_i k_i] A_i ) = 0
//
// with independent random 128-bit z_i, so that a batch holding invalid
// signatures passes with probability at most 2^-128 (after the cofactor
// is cleared the equation lives in the prime-order group).
func ed25519BatchVerify(label string, items []BatchItem) error {
	n := len(items)
	if n == 0 {
		return nil
	}
	scalars := make([]*edwards25519.Scalar, 0, 2*n+1)
	points := make([]*edwards25519.Point, 0, 2*n+1)
	sumZS := edwards25519.NewScalar()
	random := make([]byte, 16*n)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	h := sha512.New()
	var digest [sha512.Size]byte
	var zBytes [32]byte
	for i := range items {
		it := &items[i]
		if len(it.PublicKey) != 32 {
			return errMalformedSignatureKey
		}
		if !ed25519Lengths(it.PublicKey, it.Signature) {
			return ErrVerification
		}
		A, R, S, ok := ed25519Decode(it.PublicKey, it.Signature)
		if !ok {
			return ErrVerification
		}
		if err := ed25519Challenge(h, &digest, it.PublicKey, it.Signature, labeledContent{label, it.Content}.writeTo); err != nil {
			return err
		}
		k, err := edwards25519.NewScalar().SetUniformBytes(digest[:])
		if err != nil {
			return err
		}
		copy(zBytes[:16], random[16*i:16*i+16])
		z, err := edwards25519.NewScalar().SetCanonicalBytes(zBytes[:])
		if err != nil {
			return err // unreachable: z < 2^128 < L
		}
		sumZS.MultiplyAdd(z, S, sumZS)
		scalars = append(scalars, z, edwards25519.NewScalar().Multiply(z, k))
		points = append(points, R, A)
	}
	scalars = append(scalars, sumZS.Negate(sumZS))
	points = append(points, edwards25519.NewGeneratorPoint())
	sum, err := multiScalarMult(scalars, points)
	if err != nil {
		return ErrVerification
	}
	if sum.MultByCofactor(sum).Equal(edwards25519.NewIdentityPoint()) != 1 {
		return ErrVerification
	}
	return nil
}

// canonicalPoint reports whether enc is the canonical encoding of its
// point, without decoding it: the y coordinate is below p = 2^255 - 19,
// and the sign bit is clear when x = 0 (y = 1 or y = p - 1).
func canonicalPoint(enc []byte) bool {
	top := enc[31] & 0x7f
	allOnes := top == 0x7f
	allZero := top == 0
	for _, b := range enc[1:31] {
		allOnes = allOnes && b == 0xff
		allZero = allZero && b == 0
	}
	if allOnes && enc[0] >= 0xed { // y >= p
		return false
	}
	if enc[31]&0x80 != 0 {
		if allOnes && enc[0] == 0xec || allZero && enc[0] == 1 { // y = p-1 or y = 1: x = 0
			return false
		}
	}
	return true
}
