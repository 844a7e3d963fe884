package ciphersuite

import (
	"crypto/ed25519"
	"crypto/sha512"
	"hash"
	"io"
	"math/bits"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// Ed25519 verification with half-size scalars, accepting exactly the
// signatures crypto/ed25519 accepts, for about four fifths of its cost.
//
// crypto/ed25519 (cofactorless, RFC 8032 section 5.1.7 without the
// cofactor) accepts iff the encoding of R' = [s]B - [k]A equals the 32
// bytes R of the signature, with k = SHA-512(R || A || M) mod L. That is:
// R is the canonical encoding of a point, and R' equals that point.
//
// Following Pornin ("Optimized lattice basis reduction in dimension 2, and
// fast Schnorr and EdDSA signature verification", 2020), find integers c,
// d of about 128 bits with c = d*k (mod 8L) and d odd. Every point of the
// curve has an order dividing 8L, and B has order L, so
//
//	[d]R' = [d*s mod L]B - [c]A
//
// and, since multiplication by d is a bijection of a group of order 8L when
// gcd(d, 8L) = 1 (d odd, 0 < |d| < L), R' = R iff
//
//	[e]B - [c]A - [d]R = 0,  e = d*s mod L.
//
// Splitting e at 2^128 over the precomputed B and [2^128]B leaves four
// scalars of about 128 bits, so the joint multiplication takes about 128
// doublings instead of 253. Reducing modulo 8L rather than L keeps A's and
// R's small-order components in the equation, which is what makes the
// result cofactorless and so identical to crypto/ed25519's, small-order
// and mixed-order points included. Where the reduction does not give short
// enough scalars (for a hash output, a chance of about 2^-54: one of the
// 70-odd partial quotients reaches 2^61), crypto/ed25519 decides.

func stdlibVerifyEd25519(pub, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }

// ed25519LabeledVerifier is verifyEd25519Labeled, or nil with the
// standard library's crypto (StandardCrypto, which FIPS 140-3 mode
// implies): there signatures are checked by crypto/ed25519 alone on the
// encoded SignContent, and this arithmetic runs on filippo.io/
// edwards25519, outside the Go Cryptographic Module.
func ed25519LabeledVerifier() func(pub []byte, msg labeledContent, sig []byte) (bool, error) {
	if stdCrypto {
		return nil
	}
	return verifyEd25519Labeled
}

// verifyEd25519Labeled reports whether sig is a valid Ed25519 signature of
// the encoding of msg by pub, with exactly the result of ed25519.Verify.
func verifyEd25519Labeled(pub []byte, msg labeledContent, sig []byte) (bool, error) {
	var encErr error
	ok, decided := verifyEd25519Stream(pub, sig, func(w io.Writer) error {
		encErr = msg.writeTo(w)
		return encErr
	})
	if encErr != nil {
		return false, encErr
	}
	if !decided {
		m, err := msg.marshal()
		if err != nil {
			return false, err
		}
		return stdlibVerifyEd25519(pub, m, sig), nil
	}
	return ok, nil
}

// verifyEd25519Stream hashes R || A || M, M written by writeMsg, and runs
// verifyEd25519Digest. decided is false when crypto/ed25519 must decide
// (or writeMsg failed).
func verifyEd25519Stream(pub, sig []byte, writeMsg func(io.Writer) error) (ok, decided bool) {
	if !ed25519Lengths(pub, sig) {
		return false, true
	}
	var digest [sha512.Size]byte
	if ed25519Challenge(sha512.New(), &digest, pub, sig, writeMsg) != nil {
		return false, false
	}
	return verifyEd25519Digest(pub, sig, digest[:])
}

// ed25519Lengths reports whether pub and sig have the sizes crypto/ed25519
// requires, and the top bits of s are clear.
func ed25519Lengths(pub, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && sig[63]&224 == 0
}

// ed25519Challenge sets digest to SHA-512(R || A || M), M written by
// writeMsg, in h, a SHA-512 that it resets first.
func ed25519Challenge(h hash.Hash, digest *[sha512.Size]byte, pub, sig []byte, writeMsg func(io.Writer) error) error {
	h.Reset()
	h.Write(sig[:32])
	h.Write(pub)
	if err := writeMsg(h); err != nil {
		return err
	}
	h.Sum(digest[:0])
	return nil
}

// ed25519Decode decodes A, R and s of a signature whose lengths are right
// as crypto/ed25519 does, and reports false where it refuses them.
// crypto/ed25519 decodes A with SetBytes, which accepts non-canonical
// encodings (and hashes A as given); it compares R' with R by R's
// canonical encoding, so an R that is not the canonical encoding of a
// point never verifies; and it requires s < L.
func ed25519Decode(pub, sig []byte) (A, R *edwards25519.Point, S *edwards25519.Scalar, ok bool) {
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil || !canonicalPoint(sig[:32]) {
		return nil, nil, nil, false
	}
	if R, err = new(edwards25519.Point).SetBytes(sig[:32]); err != nil {
		return nil, nil, nil, false
	}
	if S, err = edwards25519.NewScalar().SetCanonicalBytes(sig[32:]); err != nil {
		return nil, nil, nil, false
	}
	return A, R, S, true
}

// verifyEd25519Digest is the verification given SHA-512(R || A || M), for
// lengths ed25519Lengths accepts. decided is false when the scalars did
// not reduce well; then nothing is known.
func verifyEd25519Digest(pub, sig, digest []byte) (ok, decided bool) {
	A, R, S, ok := ed25519Decode(pub, sig)
	if !ok {
		return false, true
	}
	k, err := edwards25519.NewScalar().SetUniformBytes(digest)
	if err != nil {
		return false, true // unreachable: the digest is 64 bytes
	}
	c, d, dNeg, ok := halfSizeScalars(limbsOf(k.Bytes()))
	if !ok {
		return false, false
	}
	var dBytes [32]byte
	putLimbs(&dBytes, d)
	e, err := edwards25519.NewScalar().SetCanonicalBytes(dBytes[:])
	if err != nil {
		return false, false // unreachable: |d| < 2^200 < L
	}
	e.Multiply(e, S)
	if dNeg {
		e.Negate(e)
	}
	el := limbsOf(e.Bytes())
	return halfSizeCheck(A, R, [4]uint64{el[0], el[1]}, [4]uint64{el[2], el[3]}, c, d, dNeg), true
}

// eightL is 8L, L the order of the base point, in 64-bit limbs, least
// significant first.
var eightL = [4]uint64{0xc09318d2e7ae9f68, 0xa6f7cef517bce6b2, 0, 0x8000000000000000}

// maxHalfBits bounds the scalars halfSizeScalars returns; above it the
// saving is gone and crypto/ed25519 decides.
const maxHalfBits = 200

// halfSizeScalars returns c >= 0 and d (as |d| and its sign) with
// c = d*k (mod 8L), d odd, and both below 2^maxHalfBits, for k < 8L. It
// runs the extended Euclidean algorithm on (8L, k), keeping r_i = t_i*k
// (mod 8L), and stops at the first remainder below 2^128: there
// |t_i| <= 8L / r_(i-1) < 2^128 too (Gallant, Lambert and Vanstone's
// decomposition). Consecutive t_i are coprime, so if t_i is even then
// t_(i-1) and t_(i+1) = t_(i-1) - q t_i are odd: the shorter of those two
// vectors is taken.
func halfSizeScalars(k [4]uint64) (c, d [4]uint64, dNeg, ok bool) {
	r0, r1 := eightL, k
	var t0, t1 [4]uint64 // signed, two's complement; |t| < 2^129 in the loop
	t1[0] = 1
	for bitLen256(&r1) > 128 {
		if A, B, C, D := lehmer(&r0, &r1); B != 0 {
			r0, r1 = add256(mulSigned256(r0, A), mulSigned256(r1, B)), add256(mulSigned256(r0, C), mulSigned256(r1, D))
			t0, t1 = add256(mulSigned256(t0, A), mulSigned256(t1, B)), add256(mulSigned256(t0, C), mulSigned256(t1, D))
			continue
		}
		r2, q, ok := divStep(&r0, &r1)
		if !ok {
			return c, d, false, false
		}
		var t2 [4]uint64
		if q == 1 {
			t2 = sub256(t0, t1)
		} else {
			t2 = sub256(t0, mulSmall256(t1, q))
		}
		r0, r1, t0, t1 = r1, r2, t1, t2
	}
	rc, tc := r1, t1
	if t1[0]&1 == 0 {
		rc, tc = r0, t0
		if q, ok := quotient(&r0, &r1); ok {
			r2 := sub256(r0, mulSmall256(r1, q))
			t2 := sub256(t0, mulSmall256(t1, q))
			if vecBits(&r2, &t2) < vecBits(&rc, &tc) {
				rc, tc = r2, t2
			}
		}
	}
	if tc[0]&1 == 0 || vecBits(&rc, &tc) > maxHalfBits {
		return c, d, false, false
	}
	dNeg = int64(tc[3]) < 0
	if dNeg {
		tc = neg256(tc)
	}
	return rc, tc, dNeg, true
}

// lehmer runs the Euclidean steps on (u, v) that the top 62 bits of u and
// the same bits of v determine (Knuth's Algorithm L, TAOCP 4.5.2), and
// returns their matrix: the pair after them is (A u + B v, C u + D v). Each
// step taken provably leaves a remainder of at least 2^128, so that
// halfSizeScalars sees the first remainder below 2^128 in its own steps.
// B = 0 when the top bits settle nothing.
func lehmer(u, v *[4]uint64) (A, B, C, D int64) {
	s := uint(max(bitLen256(u)-62, 0))
	x, y := int64(shr256(*u, s)[0]), int64(shr256(*v, s)[0])
	// u = x 2^s + eu and v = y 2^s + ev with 0 <= eu, ev < 2^s, so a
	// remainder C u + D v is above (y' - |C| - |D|) 2^s.
	var floor int64 = 1
	if s < 128 {
		floor = 1<<(128-s) + 1
	}
	A, B, C, D = 1, 0, 0, 1
	for y+C != 0 && y+D != 0 {
		q := (x + A) / (y + C)
		if q != (x+B)/(y+D) {
			break
		}
		nC, nD, ny := A-q*C, B-q*D, x-q*y
		if ny-absInt64(nC)-absInt64(nD) < floor {
			break
		}
		A, B, C, D, x, y = C, D, nC, nD, y, ny
	}
	return A, B, C, D
}

func absInt64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func add256(a, b [4]uint64) [4]uint64 {
	var r [4]uint64
	var carry uint64
	for i := range r {
		r[i], carry = bits.Add64(a[i], b[i], carry)
	}
	return r
}

// mulSigned256 is a*q modulo 2^256, two's complement.
func mulSigned256(a [4]uint64, q int64) [4]uint64 {
	if q < 0 {
		return neg256(mulSmall256(a, uint64(-q)))
	}
	return mulSmall256(a, uint64(q))
}

// divStep returns a mod b and floor(a/b), for a >= b >= 2^128. Most
// quotients of the Euclidean algorithm are 1, 2 or 3 (Gauss-Kuzmin), which
// subtractions find faster than a division.
func divStep(a, b *[4]uint64) (r [4]uint64, q uint64, ok bool) {
	r = sub256(*a, *b)
	for q = 1; q < 4; q++ {
		if less256(&r, b) {
			return r, q, true
		}
		r = sub256(r, *b)
	}
	if less256(&r, b) {
		return r, q, true
	}
	q2, ok := quotient(&r, b)
	if !ok {
		return r, 0, false
	}
	return sub256(r, mulSmall256(*b, q2)), q + q2, true
}

// quotient returns floor(a/b) when a has at most 61 bits more than b, for
// b >= 2^62: the estimate from the top 63 bits of b is low by at most a
// few units. halfSizeScalars also divides by a remainder below 2^128.
func quotient(a, b *[4]uint64) (uint64, bool) {
	lb := bitLen256(b)
	la := bitLen256(a)
	if lb < 63 || la-lb > 61 {
		return 0, false
	}
	s := uint(lb - 63)
	bTop := shr256(*b, s)[0]                     // in [2^62, 2^63)
	aTop := shr256(*a, s)                        // below 2^124
	q, _ := bits.Div64(aTop[1], aTop[0], bTop+1) // aTop[1] < 2^60 < bTop+1
	r := sub256(*a, mulSmall256(*b, q))
	for i := 0; !less256(&r, b); i++ {
		if i == 8 {
			return 0, false // unreachable: the estimate is never that far off
		}
		r = sub256(r, *b)
		q++
	}
	return q, true
}

// vecBits is the larger bit length of r and |t|.
func vecBits(r, t *[4]uint64) int {
	at := *t
	if int64(at[3]) < 0 {
		at = neg256(at)
	}
	return max(bitLen256(r), bitLen256(&at))
}

func limbsOf(b []byte) [4]uint64 {
	var l [4]uint64
	for i := range l {
		for j := 7; j >= 0; j-- {
			l[i] = l[i]<<8 | uint64(b[8*i+j])
		}
	}
	return l
}

func putLimbs(b *[32]byte, l [4]uint64) {
	for i := range l {
		for j := range 8 {
			b[8*i+j] = byte(l[i] >> (8 * j))
		}
	}
}

func bitLen256(x *[4]uint64) int {
	for i := 3; i >= 0; i-- {
		if x[i] != 0 {
			return 64*i + bits.Len64(x[i])
		}
	}
	return 0
}

func less256(a, b *[4]uint64) bool {
	_, borrow := bits.Sub64(a[0], b[0], 0)
	_, borrow = bits.Sub64(a[1], b[1], borrow)
	_, borrow = bits.Sub64(a[2], b[2], borrow)
	_, borrow = bits.Sub64(a[3], b[3], borrow)
	return borrow != 0
}

func sub256(a, b [4]uint64) [4]uint64 {
	var r [4]uint64
	var borrow uint64
	for i := range r {
		r[i], borrow = bits.Sub64(a[i], b[i], borrow)
	}
	return r
}

func neg256(a [4]uint64) [4]uint64 { return sub256([4]uint64{}, a) }

// mulSmall256 is a*q modulo 2^256 (two's complement for a signed a).
func mulSmall256(a [4]uint64, q uint64) [4]uint64 {
	var r [4]uint64
	var carry uint64
	for i := range r {
		hi, lo := bits.Mul64(a[i], q)
		var c uint64
		r[i], c = bits.Add64(lo, carry, 0)
		carry = hi + c
	}
	return r
}

func shr256(a [4]uint64, s uint) [4]uint64 {
	var r [4]uint64
	w, b := int(s/64), s%64
	for i := range r {
		if i+w > 3 {
			break
		}
		r[i] = a[i+w] >> b
		if b != 0 && i+w+1 <= 3 {
			r[i] |= a[i+w+1] << (64 - b)
		}
	}
	return r
}

// wNAF writes the width-w non-adjacent form of x (odd digits in
// (-2^(w-1), 2^(w-1)), at least w-1 zeros after each nonzero one) to naf
// and returns the number of digits used. A negative digit at position p
// needs bit p+w-1 of x set, so x < 2^256 needs no digit above 256.
func wNAF(naf *[257]int8, x [4]uint64, w uint) int {
	*naf = [257]int8{}
	width := uint64(1) << w
	mask := width - 1
	n := bitLen256(&x)
	top := 0
	carry := uint64(0)
	for pos := 0; pos < 257 && (pos < n || carry != 0); {
		idx, bit := pos/64, uint(pos%64)
		var buf uint64
		if idx < 4 {
			buf = x[idx] >> bit
			if bit != 0 && idx < 3 {
				buf |= x[idx+1] << (64 - bit)
			}
		}
		v := carry + buf&mask
		if v&1 == 0 {
			// An even window keeps the carry: with carry 1 the low bit of
			// x here was 1, and 1 + 1 carries on.
			pos++
			continue
		}
		if v < width/2 {
			naf[pos] = int8(v)
			carry = 0
		} else {
			naf[pos] = int8(int64(v) - int64(width))
			carry = 1
		}
		top = pos + 1
		pos += int(w)
	}
	return top
}

// completedPoint is ((X:Z), (Y:T)): x = X/Z, y = Y/T. Additions and
// doublings produce it; converting to extPoint costs four
// multiplications, to projective (X:Y:Z) three.
type completedPoint struct{ X, Y, Z, T field.Element }

// projPoint is (X:Y:Z), enough to double.
type projPoint struct{ X, Y, Z field.Element }

// affineCached is an affine point as the second operand of additions:
// (y+x, y-x, 2dxy).
type affineCached struct{ YplusX, YminusX, XY2d field.Element }

func (v *projPoint) fromCompleted(p *completedPoint) *projPoint {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	return v
}

func (v *extPoint) fromCompleted(p *completedPoint) *extPoint {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	v.T.Multiply(&p.X, &p.Y)
	return v
}

// double sets v = 2p (for a = -1: x3 = 2XY/(Y²-X²), y3 = (Y²+X²)/(2Z²-Y²+X²)).
func (v *completedPoint) double(p *projPoint) *completedPoint {
	var xx, yy, zz2, s field.Element
	xx.Square(&p.X)
	yy.Square(&p.Y)
	zz2.Square(&p.Z)
	zz2.Add(&zz2, &zz2)
	s.Add(&p.X, &p.Y)
	s.Square(&s)
	v.Y.Add(&yy, &xx)
	v.Z.Subtract(&yy, &xx)
	v.X.Subtract(&s, &v.Y)
	v.T.Subtract(&zz2, &v.Z)
	return v
}

// addCached sets v = p + q, or p - q when neg.
func (v *completedPoint) addCached(p *extPoint, q *cachedPoint, neg bool) *completedPoint {
	var c, dd field.Element
	c.Multiply(&p.T, &q.T2d)
	dd.Multiply(&p.Z, &q.Z2)
	return v.addFinish(p, &q.YplusX, &q.YminusX, &c, &dd, neg)
}

// addAffine sets v = p + q, or p - q when neg.
func (v *completedPoint) addAffine(p *extPoint, q *affineCached, neg bool) *completedPoint {
	var c, dd field.Element
	c.Multiply(&p.T, &q.XY2d)
	dd.Add(&p.Z, &p.Z)
	return v.addFinish(p, &q.YplusX, &q.YminusX, &c, &dd, neg)
}

// addFinish is the rest of an addition of q = (y+x, y-x, ...) to p, given
// c = 2d T1 T2 and dd = 2 Z1 Z2 (RFC 8032 section 5.1.4). -q swaps y+x and
// y-x and negates c.
func (v *completedPoint) addFinish(p *extPoint, ypx, ymx, c, dd *field.Element, neg bool) *completedPoint {
	var a, b field.Element
	if neg {
		ypx, ymx = ymx, ypx
	}
	a.Add(&p.Y, &p.X)
	a.Multiply(&a, ypx)
	b.Subtract(&p.Y, &p.X)
	b.Multiply(&b, ymx)
	v.X.Subtract(&a, &b)
	v.Y.Add(&a, &b)
	if neg {
		v.Z.Subtract(dd, c)
		v.T.Add(dd, c)
	} else {
		v.Z.Add(dd, c)
		v.T.Subtract(dd, c)
	}
	return v
}

// oddMultiples fills t with P, 3P, 5P, ... for the width-(log2(2 len t)+1)
// NAF digits.
func oddMultiples(t []cachedPoint, p *extPoint) {
	var p2, cur extPoint
	var cp completedPoint
	p2.double(p)
	var p2c cachedPoint
	p2c.from(&p2)
	cur = *p
	for i := range t {
		t[i].from(&cur)
		if i+1 < len(t) {
			cur.fromCompleted(cp.addCached(&cur, &p2c, false))
		}
	}
}

// baseTables holds the odd multiples 1B, 3B, ..., 127B of the base point
// and of [2^128]B, in affine form, for width-8 NAF digits.
var baseTables = sync.OnceValue(func() *[2][64]affineCached {
	var tabs [2][64]affineCached
	p := edwards25519.NewGeneratorPoint()
	for i := range tabs {
		if i == 1 {
			for range 128 {
				p.Add(p, p)
			}
		}
		var cur, twice extPoint
		var cp completedPoint
		var twiceC cachedPoint
		cur.fromPoint(p)
		twiceC.from(twice.double(&cur))
		for j := range tabs[i] {
			tabs[i][j].from(&cur)
			cur.fromCompleted(cp.addCached(&cur, &twiceC, false))
		}
	}
	return &tabs
})

// from sets v to p in affine form (an inversion: for tables made once).
func (v *affineCached) from(p *extPoint) *affineCached {
	var zInv, x, y field.Element
	zInv.Invert(&p.Z)
	x.Multiply(&p.X, &zInv)
	y.Multiply(&p.Y, &zInv)
	v.YplusX.Add(&y, &x)
	v.YminusX.Subtract(&y, &x)
	v.XY2d.Multiply(&x, &y)
	v.XY2d.Multiply(&v.XY2d, curveD2)
	return v
}

func (v *extPoint) fromPoint(p *edwards25519.Point) *extPoint {
	X, Y, Z, T := p.ExtendedCoordinates()
	v.X.Set(X)
	v.Y.Set(Y)
	v.Z.Set(Z)
	v.T.Set(T)
	return v
}

// halfSizeCheck reports whether [e0]B + [e1][2^128]B - [c]A - [±d]R is the
// identity, with -[d]R when dNeg is false and +[d]R when it is true.
func halfSizeCheck(A, R *edwards25519.Point, e0, e1, c, d [4]uint64, dNeg bool) bool {
	tabs := baseTables()
	var nafE0, nafE1, nafC, nafD [257]int8
	top := max(wNAF(&nafE0, e0, 8), wNAF(&nafE1, e1, 8), wNAF(&nafC, c, 5), wNAF(&nafD, d, 5))
	var a, r extPoint
	var tabA, tabR [8]cachedPoint
	oddMultiples(tabA[:], a.fromPoint(A))
	oddMultiples(tabR[:], r.fromPoint(R))

	var acc projPoint
	acc.X.Zero()
	acc.Y.One()
	acc.Z.One()
	var sum completedPoint
	var ext extPoint
	for i := top - 1; i >= 0; i-- {
		sum.double(&acc)
		if x := nafE0[i]; x != 0 {
			sum.addAffine(ext.fromCompleted(&sum), &tabs[0][abs8(x)/2], x < 0)
		}
		if x := nafE1[i]; x != 0 {
			sum.addAffine(ext.fromCompleted(&sum), &tabs[1][abs8(x)/2], x < 0)
		}
		if x := nafC[i]; x != 0 {
			sum.addCached(ext.fromCompleted(&sum), &tabA[abs8(x)/2], x > 0)
		}
		if x := nafD[i]; x != 0 {
			sum.addCached(ext.fromCompleted(&sum), &tabR[abs8(x)/2], (x > 0) != dNeg)
		}
		acc.fromCompleted(&sum)
	}
	// The identity is (0 : c : c).
	var zero field.Element
	return acc.X.Equal(&zero) == 1 && acc.Y.Equal(&acc.Z) == 1
}

func abs8(x int8) int {
	if x < 0 {
		return -int(x)
	}
	return int(x)
}
