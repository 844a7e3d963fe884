package ciphersuite

import (
	"crypto/ecdh"
	"crypto/fips140"
	"crypto/rand"
	"crypto/subtle"
	"errors"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// crypto/ecdh's X25519 NewPrivateKey computes the public key eagerly with
// the generic Montgomery ladder, a variable-base multiplication, although
// the base is fixed; and it cannot compute a DH without such a key. So a
// DH through it costs two ladders. x25519Group computes public keys as
// [k]B on the birationally equivalent Edwards curve instead, with
// edwards25519's precomputed base-point tables (about 2.5 times faster),
// converted to the Montgomery u-coordinate, u = (1+y)/(1-y) (RFC 7748
// section 4.1), and runs the DH as the one ladder of RFC 7748 section 5 on
// the same field arithmetic as crypto/ecdh (x25519Ladder). An HPKE seal
// is then a fixed-base key pair and one ladder, an open one ladder and a
// fixed-base public key, instead of two ladders each.

// newX25519Group returns the X25519 group of DHKEM(X25519). With the
// standard library's crypto (StandardCrypto) it is crypto/ecdh alone. In
// FIPS 140-3 mode, which implies that choice, that keeps every X25519
// operation on the Go Cryptographic Module's field arithmetic and keeps
// crypto/ecdh's refusal of X25519 under GODEBUG=fips140=only, while filippo.io/
// edwards25519 lies outside the module. (X25519 suites are not approved
// anyway; see FIPSApproved.)
func newX25519Group() dhGroup {
	if fips140.Enabled() || stdCrypto {
		return ecdhGroup{ecdh.X25519()}
	}
	return x25519Group{}
}

type x25519Group struct{}

// x25519Private holds a clamped scalar. It is used by one call and then
// dropped.
type x25519Private struct {
	sk [32]byte
}

func (x25519Group) generate() (dhPrivate, error) {
	sk := make([]byte, 32)
	if _, err := rand.Read(sk); err != nil {
		return nil, err
	}
	return x25519Group{}.parse(sk)
}

func (x25519Group) parse(priv []byte) (dhPrivate, error) {
	if len(priv) != 32 {
		return nil, errors.New("ciphersuite: invalid HPKE private key")
	}
	p := &x25519Private{}
	copy(p.sk[:], priv)
	// SerializePrivateKey clamps (RFC 9180 section 7.1.2); X25519 clamps
	// its input anyway (RFC 7748 section 5), so this changes no result.
	p.sk[0] &= 248
	p.sk[31] = p.sk[31]&127 | 64
	return p, nil
}

func (x25519Group) checkPublic(pub []byte) error {
	return ecdhGroup{ecdh.X25519()}.checkPublic(pub)
}

func (p *x25519Private) bytes() []byte { return append([]byte(nil), p.sk[:]...) }

func (p *x25519Private) publicKey() []byte { return x25519PublicKey(p.sk[:]) }

func (p *x25519Private) dh(peer []byte) ([]byte, error) {
	if len(peer) != 32 {
		return nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	z := x25519Ladder(&p.sk, peer)
	// RFC 9180 section 7.1.4: refuse the all-zero output of a low-order
	// peer key, as crypto/ecdh does.
	if subtle.ConstantTimeCompare(z, make([]byte, 32)) == 1 {
		return nil, errors.New("ciphersuite: invalid DH result (low-order public key)")
	}
	return z, nil
}

// x25519Ladder is X25519(k, u) of RFC 7748 section 5 for a clamped k: the
// Montgomery ladder in constant time (every step runs the same field
// operations, and the conditional swaps are masks). The step computes
// RFC 7748's A, B, C, D, then DA, CB, AA, BB, then the outputs, so that
// neighbouring multiplications need not wait on each other: in the RFC's
// order, each square right after the sum it squares, the ladder took 12%
// longer here (BenchmarkX25519DH, 34.5 against 30.8 us).
func x25519Ladder(k *[32]byte, u []byte) []byte {
	// a, b, c, d hold A, B, C, D, then AA, BB, CB, DA; e is E = AA - BB.
	var x1, x2, z2, x3, z3, a, b, c, d, e field.Element
	if _, err := x1.SetBytes(u); err != nil { // ignores the top bit, as RFC 7748 requires
		panic("ciphersuite: X25519 point is not 32 bytes") // callers check the length
	}
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()
	swap := 0
	for t := 254; t >= 0; t-- {
		bit := int(k[t/8]>>(t%8)) & 1
		swap ^= bit
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = bit
		a.Add(&x2, &z2)
		b.Subtract(&x2, &z2)
		c.Add(&x3, &z3)
		d.Subtract(&x3, &z3)
		d.Multiply(&d, &a) // DA
		c.Multiply(&c, &b) // CB
		a.Square(&a)       // AA
		b.Square(&b)       // BB
		x3.Add(&d, &c)
		z3.Subtract(&d, &c)
		e.Subtract(&a, &b)
		x3.Square(&x3)        // x_3 = (DA + CB)^2
		z3.Square(&z3)        // (DA - CB)^2
		x2.Multiply(&a, &b)   // x_2 = AA * BB
		z2.Mult32(&e, 121665) // a24 * E, a24 = (486662 - 2) / 4
		z2.Add(&z2, &a)       // AA + a24 * E
		z3.Multiply(&z3, &x1) // z_3 = x_1 * (DA - CB)^2
		z2.Multiply(&z2, &e)  // z_2 = E * (AA + a24 * E)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)
	z2.Invert(&z2)
	return x2.Multiply(&x2, &z2).Bytes()
}

// x25519PublicKey is X25519(k, 9) for a 32-byte k. SetBytesWithClamping
// clamps k as X25519 does and reduces it modulo the order of B, which
// leaves [k]B unchanged. A clamped scalar is never a multiple of that
// order, so [k]B is never the identity, whose encoding would be u = 0.
func x25519PublicKey(k []byte) []byte {
	s, err := edwards25519.NewScalar().SetBytesWithClamping(k)
	if err != nil {
		panic("ciphersuite: X25519 scalar is not 32 bytes") // callers check the length
	}
	return new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery()
}
