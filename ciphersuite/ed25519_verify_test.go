package ciphersuite

import (
	"bytes"
	"crypto/ed25519"
	"crypto/fips140"
	"crypto/sha512"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"reflect"
	"testing"

	"filippo.io/edwards25519"
)

var (
	bigL      = new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 252), mustBig("27742317777372353535851937790883648493"))
	bigEightL = new(big.Int).Lsh(bigL, 3)
)

func mustBig(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return v
}

func limbsToBig(l [4]uint64) *big.Int {
	v := new(big.Int)
	for i := 3; i >= 0; i-- {
		v.Lsh(v, 64)
		v.Or(v, new(big.Int).SetUint64(l[i]))
	}
	return v
}

func bigToLimbs(v *big.Int) [4]uint64 {
	var l [4]uint64
	w := new(big.Int).Set(v)
	mask := new(big.Int).SetUint64(^uint64(0))
	for i := range l {
		l[i] = new(big.Int).And(w, mask).Uint64()
		w.Rsh(w, 64)
	}
	return l
}

func randLimbs(r *mrand.Rand, below *big.Int) [4]uint64 {
	v := new(big.Int)
	for i := 0; i < 4; i++ {
		v.Lsh(v, 64)
		v.Or(v, new(big.Int).SetUint64(r.Uint64()))
	}
	return bigToLimbs(v.Mod(v, below))
}

func TestEightL(t *testing.T) {
	if limbsToBig(eightL).Cmp(bigEightL) != 0 {
		t.Fatalf("eightL = %v, want %v", limbsToBig(eightL), bigEightL)
	}
}

// checkHalfSize checks c = d*k (mod 8L), d odd, and the size bound, when
// halfSizeScalars finds a decomposition, and reports whether it did.
func checkHalfSize(t *testing.T, k [4]uint64) bool {
	t.Helper()
	c, d, dNeg, ok := halfSizeScalars(k)
	if !ok {
		return false
	}
	bc, bd := limbsToBig(c), limbsToBig(d)
	if dNeg {
		bd.Neg(bd)
	}
	if bd.Bit(0) != 1 {
		t.Fatalf("k = %v: d = %v is even", limbsToBig(k), bd)
	}
	if bc.BitLen() > maxHalfBits || bd.BitLen() > maxHalfBits {
		t.Fatalf("k = %v: c = %v, d = %v too long", limbsToBig(k), bc, bd)
	}
	diff := new(big.Int).Mul(bd, limbsToBig(k))
	diff.Sub(diff, bc)
	if diff.Mod(diff, bigEightL).Sign() != 0 {
		t.Fatalf("k = %v: c = %v, d = %v: c != d*k mod 8L", limbsToBig(k), bc, bd)
	}
	return true
}

func TestHalfSizeScalars(t *testing.T) {
	one := big.NewInt(1)
	edges := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2), big.NewInt(8),
		new(big.Int).Sub(bigL, one),
		new(big.Int).Lsh(one, 128), new(big.Int).Sub(new(big.Int).Lsh(one, 128), one),
		new(big.Int).Lsh(one, 252), new(big.Int).Rsh(bigL, 1),
		new(big.Int).Rsh(bigEightL, 1), new(big.Int).Sub(bigEightL, one),
	}
	// Some of these have no short vector with d odd: for k = L - 1,
	// (c, d) = (-8, 8) is so short that every other vector is long. The
	// caller then falls back; a hash output is never that special.
	found := 0
	for _, k := range edges {
		if checkHalfSize(t, bigToLimbs(k)) {
			found++
		}
	}
	if found < 5 {
		t.Errorf("only %d of the %d edge cases decomposed", found, len(edges))
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	const n = 20000
	totalBits := 0
	for range n {
		k := randLimbs(r, bigL)
		if !checkHalfSize(t, k) {
			t.Fatalf("k = %v: no decomposition", limbsToBig(k))
		}
		c, d, _, _ := halfSizeScalars(k)
		bits := max(bitLen256(&c), bitLen256(&d))
		if want := shortestOddBits(limbsToBig(k)); bits != want {
			t.Fatalf("k = %v: a decomposition of %d bits, the shorter candidate has %d", limbsToBig(k), bits, want)
		}
		totalBits += bits
	}
	// About 128 bits on average: the speed depends on it.
	if mean := float64(totalBits) / n; mean > 130 {
		t.Errorf("decompositions of %.1f bits on average", mean)
	} else {
		t.Logf("decompositions of %.1f bits on average", mean)
	}
}

// shortestOddBits is the length halfSizeScalars should reach for k, by
// math/big: the extended Euclidean algorithm on (8L, k) up to the first
// remainder r_i below 2^128, then (r_i, t_i) when t_i is odd, or else the
// shorter of (r_(i-1), t_(i-1)) and (r_(i+1), t_(i+1)).
func shortestOddBits(k *big.Int) int {
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	r0, r1 := new(big.Int).Set(bigEightL), new(big.Int).Set(k)
	t0, t1 := big.NewInt(0), big.NewInt(1)
	next := func() (*big.Int, *big.Int) {
		q, r2 := new(big.Int).QuoRem(r0, r1, new(big.Int))
		return r2, q.Sub(t0, q.Mul(q, t1))
	}
	for r1.Cmp(two128) >= 0 {
		r2, t2 := next()
		r0, r1, t0, t1 = r1, r2, t1, t2
	}
	length := func(r, t *big.Int) int { return max(r.BitLen(), new(big.Int).Abs(t).BitLen()) }
	if t1.Bit(0) == 1 {
		return length(r1, t1)
	}
	r2, t2 := next()
	return min(length(r0, t0), length(r2, t2))
}

func TestQuotient(t *testing.T) {
	r := mrand.New(mrand.NewPCG(3, 4))
	for range 20000 {
		// Divisors from 2^62 up: halfSizeScalars divides by remainders
		// above 2^128, and once by one below.
		b := shr256(randLimbs(r, bigEightL), uint(r.IntN(193)))
		if bitLen256(&b) < 63 {
			continue
		}
		// a within a small multiple of b, as in the Euclidean steps.
		m := new(big.Int).Mul(limbsToBig(b), big.NewInt(int64(r.IntN(40))+1))
		m.Add(m, limbsToBig(randLimbs(r, limbsToBig(b))))
		if m.BitLen() > 256 {
			continue
		}
		a := bigToLimbs(m)
		q, ok := quotient(&a, &b)
		want := new(big.Int).Quo(m, limbsToBig(b))
		if !ok || want.Cmp(new(big.Int).SetUint64(q)) != 0 {
			t.Fatalf("quotient(%v, %v) = %d, %v; want %v", m, limbsToBig(b), q, ok, want)
		}
	}
	small := [4]uint64{1 << 20}
	big1 := [4]uint64{0, 0, 1, 0}
	if _, ok := quotient(&big1, &small); ok {
		t.Error("quotient by a divisor below 2^62 accepted")
	}
	huge := [4]uint64{0, 1 << 62}
	if _, ok := quotient(&huge, &[4]uint64{1 << 63}); ok {
		t.Error("a quotient of 2^63 accepted")
	}
}

func TestWNAF(t *testing.T) {
	r := mrand.New(mrand.NewPCG(5, 6))
	max256 := new(big.Int).Lsh(big.NewInt(1), 256)
	inputs := [][4]uint64{{}, {1}, {^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}, {0, 0, 0, 1 << 63}}
	for range 5000 {
		x := randLimbs(r, max256)
		// Also numbers with fewer bits, and with long runs of ones.
		inputs = append(inputs, x, shr256(x, uint(r.IntN(256))), [4]uint64{x[0] | 0xffff0000ffff, x[1], 0, 0})
	}
	for _, x := range inputs {
		for _, w := range []uint{5, 8} {
			var naf [257]int8
			n := wNAF(&naf, x, w)
			sum := new(big.Int)
			last := 1000
			for i := 256; i >= 0; i-- {
				d := int64(naf[i])
				if d != 0 {
					if i >= n {
						t.Fatalf("x = %v: digit at %d past the length %d", limbsToBig(x), i, n)
					}
					if d%2 == 0 || d >= 1<<(w-1) || d <= -(1<<(w-1)) {
						t.Fatalf("x = %v: digit %d at %d out of range for w = %d", limbsToBig(x), d, i, w)
					}
					if last-i < int(w) {
						t.Fatalf("x = %v: digits at %d and %d closer than w = %d", limbsToBig(x), last, i, w)
					}
					last = i
				}
				sum.Lsh(sum, 1)
				sum.Add(sum, big.NewInt(d))
			}
			if sum.Cmp(limbsToBig(x)) != 0 {
				t.Fatalf("w = %d: NAF of %v sums to %v", w, limbsToBig(x), sum)
			}
		}
	}
}

// smallOrderPoints returns the eight points of order dividing 8, the
// first of order 8.
func smallOrderPoints(t testing.TB) []*edwards25519.Point {
	t.Helper()
	lMinus1, err := edwards25519.NewScalar().SetCanonicalBytes(leBytes(new(big.Int).Sub(bigL, big.NewInt(1))))
	if err != nil {
		t.Fatal(err)
	}
	id := edwards25519.NewIdentityPoint()
	seed := make([]byte, 32)
	for i := 0; ; i++ {
		seed[0], seed[1] = byte(i), byte(i>>8)
		p, err := new(edwards25519.Point).SetBytes(seed)
		if err != nil {
			continue
		}
		// [L]P is P's small-order component.
		q := new(edwards25519.Point).ScalarMult(lMinus1, p)
		q.Add(q, p)
		q4 := new(edwards25519.Point).Add(q, q)
		q4.Add(q4, q4)
		if q4.Equal(id) == 1 {
			continue
		}
		points := []*edwards25519.Point{q}
		for j := 1; j < 8; j++ {
			points = append(points, new(edwards25519.Point).Add(points[j-1], q))
		}
		if points[7].Equal(id) != 1 {
			t.Fatal("8T is not the identity")
		}
		return points
	}
}

func leBytes(v *big.Int) []byte {
	b := make([]byte, 32)
	v.FillBytes(b)
	for i := 0; i < 16; i++ {
		b[i], b[31-i] = b[31-i], b[i]
	}
	return b
}

// torsionSignature signs msg with secret scalar a for the public key
// [a]B + ta and the nonce point [nonce]B + tr: the small-order parts make
// crypto/ed25519 accept only when tr = -[k]ta.
func torsionSignature(a, nonce *edwards25519.Scalar, ta, tr *edwards25519.Point, msg []byte) (pub, sig []byte) {
	A := new(edwards25519.Point).ScalarBaseMult(a)
	A.Add(A, ta)
	R := new(edwards25519.Point).ScalarBaseMult(nonce)
	R.Add(R, tr)
	pub, rEnc := A.Bytes(), R.Bytes()
	h := sha512.New()
	h.Write(rEnc)
	h.Write(pub)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	s := edwards25519.NewScalar().MultiplyAdd(k, a, nonce)
	return pub, append(rEnc, s.Bytes()...)
}

func randScalar(r *mrand.Rand) *edwards25519.Scalar {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s, _ := edwards25519.NewScalar().SetUniformBytes(b)
	return s
}

// verifyEd25519 is the production path (verifyEd25519Stream, then
// crypto/ed25519 where it does not decide) on a message given whole.
func verifyEd25519(pub, msg, sig []byte) bool {
	ok, decided := verifyEd25519Stream(pub, sig, func(w io.Writer) error {
		w.Write(msg)
		return nil
	})
	if !decided {
		return stdlibVerifyEd25519(pub, msg, sig)
	}
	return ok
}

func checkSameAsStdlib(t *testing.T, pub, msg, sig []byte) bool {
	t.Helper()
	want := len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
	if got := verifyEd25519(pub, msg, sig); got != want {
		t.Fatalf("verifyEd25519(%x, %x, %x) = %v, crypto/ed25519 says %v", pub, msg, sig, got, want)
	}
	return want
}

// checkDecided checks that the half-size path itself decided a
// well-formed signature, without falling back on crypto/ed25519.
func checkDecided(t *testing.T, pub, msg, sig []byte) {
	t.Helper()
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	ok, decided := verifyEd25519Digest(pub, sig, h.Sum(nil))
	if !decided {
		t.Fatalf("verifyEd25519Digest(%x, %x, %x) fell back", pub, msg, sig)
	}
	if want := ed25519.Verify(pub, msg, sig); ok != want {
		t.Fatalf("verifyEd25519Digest(%x, %x, %x) = %v, crypto/ed25519 says %v", pub, msg, sig, ok, want)
	}
}

func TestVerifyEd25519ValidAndCorrupted(t *testing.T) {
	r := mrand.New(mrand.NewPCG(7, 8))
	for i := range 300 {
		seed := make([]byte, 32)
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		key := ed25519.NewKeyFromSeed(seed)
		msg := make([]byte, r.IntN(200))
		for j := range msg {
			msg[j] = byte(r.Uint32())
		}
		sig := ed25519.Sign(key, msg)
		pub := key.Public().(ed25519.PublicKey)
		if !checkSameAsStdlib(t, pub, msg, sig) {
			t.Fatal("a valid signature was refused")
		}
		checkDecided(t, pub, msg, sig)
		// One flipped bit anywhere.
		bit := r.IntN(8 * (len(pub) + len(sig) + len(msg) + 1))
		p, m, s := bytes.Clone(pub), bytes.Clone(msg), bytes.Clone(sig)
		switch {
		case bit < 8*len(p):
			p[bit/8] ^= 1 << (bit % 8)
		case bit < 8*(len(p)+len(s)):
			bit -= 8 * len(p)
			s[bit/8] ^= 1 << (bit % 8)
		default:
			m = append(m, byte(i))
		}
		if checkSameAsStdlib(t, p, m, s) {
			t.Fatal("a corrupted signature was accepted")
		}
		// s + L: the same point equation, refused as non-canonical.
		sPlusL := new(big.Int).SetBytes(reverse(sig[32:]))
		sPlusL.Add(sPlusL, bigL)
		if sPlusL.BitLen() <= 256 {
			checkSameAsStdlib(t, pub, msg, append(bytes.Clone(sig[:32]), leBytes(sPlusL)...))
		}
	}
	// Wrong lengths.
	if verifyEd25519(make([]byte, 31), nil, make([]byte, 64)) || verifyEd25519(make([]byte, 32), nil, make([]byte, 63)) {
		t.Error("wrong lengths accepted")
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}

// TestVerifyEd25519Torsion is the case where cofactored verification
// (batch verification among them) and crypto/ed25519 differ: keys and
// nonces with small-order components. Both answers must occur, and match.
func TestVerifyEd25519Torsion(t *testing.T) {
	r := mrand.New(mrand.NewPCG(9, 10))
	torsion := smallOrderPoints(t)
	accepted, refused := 0, 0
	for i := range 2000 {
		ta, tr := torsion[r.IntN(8)], torsion[r.IntN(8)]
		msg := []byte{byte(i), byte(i >> 8)}
		pub, sig := torsionSignature(randScalar(r), randScalar(r), ta, tr, msg)
		if checkSameAsStdlib(t, pub, msg, sig) {
			accepted++
		} else {
			refused++
		}
		checkDecided(t, pub, msg, sig)
	}
	if accepted < 100 || refused < 100 {
		t.Fatalf("accepted %d, refused %d: the torsion cases are not both exercised", accepted, refused)
	}
}

// TestVerifyEd25519SmallOrder covers small-order keys and nonces with
// every encoding SetBytes accepts: canonical, y + p, and x = 0 with the
// sign bit set.
func TestVerifyEd25519SmallOrder(t *testing.T) {
	torsion := smallOrderPoints(t)
	var encodings [][]byte
	for _, p := range torsion {
		e := p.Bytes()
		encodings = append(encodings, e)
		alt := bytes.Clone(e)
		alt[31] ^= 0x80 // the other x, or a non-canonical x = 0
		encodings = append(encodings, alt)
	}
	// y + p for y = 0 and y = 1 (whose y + p still fits in 255 bits).
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	for _, y := range []int64{0, 1} {
		v := new(big.Int).Add(p, big.NewInt(y))
		encodings = append(encodings, leBytes(v))
		e := leBytes(v)
		e[31] |= 0x80
		encodings = append(encodings, e)
	}
	msgs := [][]byte{nil, []byte("a"), []byte("b"), []byte("c"), []byte("d")}
	accepted := 0
	for _, a := range encodings {
		for _, rEnc := range encodings {
			for _, s := range [][]byte{make([]byte, 32), leBytes(big.NewInt(1))} {
				for _, m := range msgs {
					if checkSameAsStdlib(t, a, m, append(bytes.Clone(rEnc), s...)) {
						accepted++
					}
				}
			}
		}
	}
	if accepted == 0 {
		t.Fatal("no small-order signature accepted: the cases are not exercised")
	}
}

func FuzzVerifyEd25519(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := []byte("fuzz")
	f.Add([]byte(key.Public().(ed25519.PublicKey)), msg, ed25519.Sign(key, msg))
	r := mrand.New(mrand.NewPCG(11, 12))
	torsion := smallOrderPoints(f)
	for i := range 16 {
		pub, sig := torsionSignature(randScalar(r), randScalar(r), torsion[i%8], torsion[(i*3)%8], msg)
		f.Add(pub, msg, sig)
	}
	f.Add(torsion[0].Bytes(), msg, append(torsion[1].Bytes(), make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		checkSameAsStdlib(t, pub, msg, sig)
	})
}

func BenchmarkVerifyEd25519(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	msg := make([]byte, 200)
	sig := ed25519.Sign(key, msg)
	pub := key.Public().(ed25519.PublicKey)
	b.Run("halfsize", func(b *testing.B) {
		for b.Loop() {
			if !verifyEd25519(pub, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("refused")
			}
		}
	})
}

func BenchmarkHalfSizeScalars(b *testing.B) {
	r := mrand.New(mrand.NewPCG(13, 14))
	ks := make([][4]uint64, 256)
	for i := range ks {
		ks[i] = randLimbs(r, bigL)
	}
	i := 0
	for b.Loop() {
		halfSizeScalars(ks[i%len(ks)])
		i++
	}
}

// TestEd25519VerifierChoice runs here and, through TestFIPSMode, in FIPS
// 140-3 mode, where crypto/ed25519 must check every signature, as it must
// with MLS_CRYPTO=std (.ci/run runs it so).
func TestEd25519VerifierChoice(t *testing.T) {
	e := sigEd25519.(*eddsaScheme)
	if reflect.ValueOf(e.verifyFn).Pointer() != reflect.ValueOf(stdlibVerifyEd25519).Pointer() {
		t.Fatal("Ed25519's whole-message verification is not crypto/ed25519")
	}
	if labeled := e.verifyLabeled; (labeled == nil) != (fips140.Enabled() || stdCrypto) {
		t.Fatalf("FIPS mode %v, implementation %s: half-size verification set: %v", fips140.Enabled(), Implementation(), labeled != nil)
	}
}

// TestVerifyEd25519Labeled checks the streamed SignContent path of
// VerifyWithLabel against crypto/ed25519 on the encoded SignContent.
func TestVerifyEd25519Labeled(t *testing.T) {
	r := mrand.New(mrand.NewPCG(15, 16))
	torsion := smallOrderPoints(t)
	accepted := 0
	for i := range 400 {
		msg := labeledContent{label: string(rune('a' + i%26)), content: make([]byte, r.IntN(300))}
		for j := range msg.content {
			msg.content[j] = byte(r.Uint32())
		}
		m, err := msg.marshal()
		if err != nil {
			t.Fatal(err)
		}
		pub, sig := torsionSignature(randScalar(r), randScalar(r), torsion[r.IntN(8)], torsion[r.IntN(8)], m)
		if i%2 == 0 { // no small-order part: valid
			key := ed25519.NewKeyFromSeed(sig[:32])
			pub, sig = key.Public().(ed25519.PublicKey), ed25519.Sign(key, m)
		}
		if i%5 == 0 {
			msg.content = append(msg.content, 1)
		}
		want := ed25519.Verify(pub, m, sig) && i%5 != 0
		got, err := verifyEd25519Labeled(pub, msg, sig)
		if err != nil || got != want {
			t.Fatalf("case %d: %v, %v; crypto/ed25519 says %v", i, got, err, want)
		}
		if got {
			accepted++
		}
	}
	if accepted < 150 {
		t.Fatalf("only %d accepted", accepted)
	}
}

// FuzzVerifyEd25519Torsion builds signatures from fuzzed scalars, small-order
// components and messages, so that the fuzzer explores signatures that
// crypto/ed25519 accepts as well as near misses, not only random bytes.
func FuzzVerifyEd25519Torsion(f *testing.F) {
	f.Add([]byte("a"), []byte("r"), uint8(1), uint8(2), []byte("m"), uint8(0))
	f.Add([]byte{}, []byte{}, uint8(0), uint8(0), []byte{}, uint8(1))
	torsion := smallOrderPoints(f)
	f.Fuzz(func(t *testing.T, aSeed, rSeed []byte, ia, ir uint8, msg []byte, tweak uint8) {
		pub, sig := torsionSignature(scalarFrom(aSeed), scalarFrom(rSeed), torsion[ia%8], torsion[ir%8], msg)
		if tweak != 0 { // a near miss: one bit of s or R
			sig[int(tweak)%64] ^= 1 << (tweak % 8)
		}
		checkSameAsStdlib(t, pub, msg, sig)
	})
}

func scalarFrom(seed []byte) *edwards25519.Scalar {
	d := sha512.Sum512(seed)
	s, _ := edwards25519.NewScalar().SetUniformBytes(d[:])
	return s
}

// torsionModel is the point [sc]B + [ti]T for the order-8 point T of
// smallOrderPoints, so that expected results follow from integer arithmetic.
type torsionModel struct {
	sc *big.Int // modulo L
	ti int64    // modulo 8
}

func (m torsionModel) point(t *testing.T, torsion []*edwards25519.Point) *edwards25519.Point {
	t.Helper()
	s, err := edwards25519.NewScalar().SetCanonicalBytes(leBytes(new(big.Int).Mod(m.sc, bigL)))
	if err != nil {
		t.Fatal(err)
	}
	p := new(edwards25519.Point).ScalarBaseMult(s)
	if ti := m.ti & 7; ti != 0 {
		p.Add(p, torsion[ti-1])
	}
	return p
}

func randTorsionModel(r *mrand.Rand) torsionModel {
	return torsionModel{limbsToBig(randLimbs(r, bigL)), r.Int64N(8)}
}

// TestHalfSizeCheck checks the joint multiplication on chosen scalars: c
// and d of every length up to 256 bits, all ones, single bits (the NAF
// carries), points with every small-order component, and both signs of d.
// The sum is made the identity, then spoilt by ±B or by a leftover
// small-order part.
func TestHalfSizeCheck(t *testing.T) {
	torsion := smallOrderPoints(t)
	r := mrand.New(mrand.NewPCG(21, 22))
	one := big.NewInt(1)
	lengths := []int{0, 1, 5, 64, 127, 128, 129, 199, 200, 252, 255, 256}
	scalar := func() *big.Int {
		n := lengths[r.IntN(len(lengths))]
		if n == 0 {
			return new(big.Int)
		}
		switch r.IntN(4) {
		case 0:
			return new(big.Int).Sub(new(big.Int).Lsh(one, uint(n)), one)
		case 1:
			return new(big.Int).Lsh(one, uint(n-1))
		default:
			v := limbsToBig(randLimbs(r, new(big.Int).Lsh(one, uint(n))))
			return v.SetBit(v, n-1, 1)
		}
	}
	identities, others := 0, 0
	for i := range 1500 {
		A, R := randTorsionModel(r), randTorsionModel(r)
		if i%7 == 0 {
			A.sc = new(big.Int) // small-order A
		}
		if i%11 == 0 {
			R.sc = new(big.Int)
		}
		c, d, dNeg := scalar(), scalar(), r.IntN(2) == 0
		signedD := new(big.Int).Set(d)
		if dNeg {
			signedD.Neg(signedD)
		}
		// [e]B = [c]A + [signedD]R up to the small-order part and delta.
		e := new(big.Int).Mul(c, A.sc)
		e.Add(e, new(big.Int).Mul(signedD, R.sc))
		delta := int64(0)
		if i%3 == 0 {
			delta = r.Int64N(3) - 1
		}
		e.Add(e, big.NewInt(delta))
		e.Mod(e, bigL)
		small := new(big.Int).Mul(c, big.NewInt(A.ti))
		small.Add(small, new(big.Int).Mul(signedD, big.NewInt(R.ti)))
		want := delta == 0 && small.Mod(small, big.NewInt(8)).Sign() == 0
		e0 := bigToLimbs(new(big.Int).Mod(e, new(big.Int).Lsh(one, 128)))
		e1 := bigToLimbs(new(big.Int).Rsh(e, 128))
		got := halfSizeCheck(A.point(t, torsion), R.point(t, torsion), e0, e1, bigToLimbs(c), bigToLimbs(d), dNeg)
		if got != want {
			t.Fatalf("case %d: c = %v, d = %v (negative %v), A = %v, R = %v, delta %d: %v, want %v", i, c, d, dNeg, A, R, delta, got, want)
		}
		if want {
			identities++
		} else {
			others++
		}
	}
	if identities < 200 || others < 200 {
		t.Fatalf("%d identities, %d others: both outcomes are not exercised", identities, others)
	}
}

// TestVerifyEd25519ChosenDigest runs verifyEd25519Digest on chosen hash
// values k, which a signer cannot choose but which reach the lattices a
// hash output almost never gives: tiny k, k near powers of two, near
// fractions of L and 8L, and k = u/v (mod 8L) for short (u, v). Every
// decided answer must be crypto/ed25519's, checked here on its own
// equation: encode([s]B - [k]A) = R.
func TestVerifyEd25519ChosenDigest(t *testing.T) {
	torsion := smallOrderPoints(t)
	r := mrand.New(mrand.NewPCG(23, 24))
	one := big.NewInt(1)
	var ks []*big.Int
	add := func(v *big.Int) {
		if v.Sign() >= 0 && v.Cmp(bigL) < 0 {
			ks = append(ks, v)
		}
	}
	for v := range int64(10) {
		add(big.NewInt(v))
		add(new(big.Int).Sub(bigL, big.NewInt(v+1)))
	}
	for _, sh := range []uint{63, 64, 127, 128, 129, 200, 251, 252} {
		for dv := int64(-1); dv <= 1; dv++ {
			add(new(big.Int).Add(new(big.Int).Lsh(one, sh), big.NewInt(dv)))
		}
	}
	for b := int64(2); b <= 24; b++ {
		for _, base := range []*big.Int{bigL, bigEightL} {
			v := new(big.Int).Quo(base, big.NewInt(b))
			for _, off := range []*big.Int{big.NewInt(1), new(big.Int).Lsh(one, 64), new(big.Int).Lsh(one, 127), new(big.Int).Lsh(one, 130)} {
				add(new(big.Int).Add(v, off))
				add(new(big.Int).Sub(v, off))
			}
		}
	}
	for _, ub := range []uint{1, 64, 127, 128, 129, 140} {
		for _, vb := range []uint{1, 64, 127, 128, 129, 140} {
			for range 3 {
				u := limbsToBig(randLimbs(r, new(big.Int).Lsh(one, ub)))
				v := limbsToBig(randLimbs(r, new(big.Int).Lsh(one, vb)))
				w := new(big.Int).ModInverse(v.SetBit(v, 0, 1), bigEightL)
				w.Mul(w, u)
				add(w.Mod(w.Mod(w, bigEightL), bigL))
			}
		}
	}
	decided, accepted := 0, 0
	for i, k := range ks {
		kScalar, err := edwards25519.NewScalar().SetCanonicalBytes(leBytes(k))
		if err != nil {
			t.Fatal(err)
		}
		var digest [64]byte
		copy(digest[:], leBytes(k))
		for j := range 3 {
			A, nonce := randTorsionModel(r), randTorsionModel(r)
			switch j {
			case 0: // the small-order parts cancel: accepted
				kMod8 := new(big.Int).Mod(k, big.NewInt(8)).Int64()
				nonce.ti = -kMod8 * A.ti
			case 1: // s off by one: refused
			case 2: // small-order A and R
				A.sc, nonce.sc = new(big.Int), new(big.Int)
			}
			s := new(big.Int).Mul(k, A.sc)
			s.Add(s, nonce.sc)
			if j == 1 {
				s.Add(s, one)
			}
			s.Mod(s, bigL)
			pa, pr := A.point(t, torsion), nonce.point(t, torsion)
			pub, sig := pa.Bytes(), append(pr.Bytes(), leBytes(s)...)
			S, _ := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
			want := bytes.Equal(sig[:32], new(edwards25519.Point).VarTimeDoubleScalarBaseMult(kScalar, new(edwards25519.Point).Negate(pa), S).Bytes())
			if j < 2 && want != (j == 0) {
				t.Fatalf("case %d.%d: crypto/ed25519's equation says %v", i, j, want)
			}
			got, ok := verifyEd25519Digest(pub, sig, digest[:])
			if _, _, _, reduced := halfSizeScalars(bigToLimbs(k)); ok != reduced {
				t.Fatalf("k = %v: decided %v, but the reduction succeeded: %v", k, ok, reduced)
			}
			if !ok {
				continue
			}
			decided++
			if got != want {
				t.Fatalf("case %d.%d, k = %v: %v, crypto/ed25519's equation says %v", i, j, k, got, want)
			}
			if got {
				accepted++
			}
		}
	}
	t.Logf("%d signatures, %d decided, %d accepted", 3*len(ks), decided, accepted)
	if decided < 300 || accepted < 100 {
		t.Fatalf("%d decided, %d accepted: the cases are not exercised", decided, accepted)
	}
}
