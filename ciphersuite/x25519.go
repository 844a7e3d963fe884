package ciphersuite

import (
	"crypto/ecdh"
	"crypto/fips140"
	"crypto/rand"
	"errors"

	"filippo.io/edwards25519"
)

// crypto/ecdh's X25519 NewPrivateKey computes the public key eagerly with
// the generic Montgomery ladder, a variable-base multiplication, although
// the base is fixed. x25519Group computes public keys as [k]B on the
// birationally equivalent Edwards curve instead, with edwards25519's
// precomputed base-point tables (about 2.5 times faster), and converts
// the result to the Montgomery u-coordinate, u = (1+y)/(1-y) (RFC 7748
// section 4.1). The DH itself still runs on crypto/ecdh. Its API cannot
// build a private key without the ladder, so encap and decap, which need
// a DH, take enc and pkR from that ladder rather than paying for a
// fixed-base multiplication too; generate, DeriveKeyPair and publicKey,
// which need no DH, no longer run a ladder at all.

// newX25519Group returns the X25519 group of DHKEM(X25519). In FIPS 140-3
// mode it is crypto/ecdh alone: that keeps every X25519 operation on the
// Go Cryptographic Module's field arithmetic and keeps crypto/ecdh's
// refusal of X25519 under GODEBUG=fips140=only, while filippo.io/
// edwards25519 lies outside the module. (X25519 suites are not approved
// anyway; see FIPSApproved.)
func newX25519Group() dhGroup {
	if fips140.Enabled() {
		return ecdhGroup{ecdh.X25519()}
	}
	return x25519Group{}
}

type x25519Group struct{}

// x25519Private holds a clamped scalar. It builds the crypto/ecdh key only
// for a DH, and computes the public key by fixed-base multiplication only
// when no such key exists yet. It is used by one call and then dropped.
type x25519Private struct {
	sk  [32]byte
	key *ecdh.PrivateKey
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

func (p *x25519Private) publicKey() []byte {
	if p.key != nil {
		return p.key.PublicKey().Bytes()
	}
	return x25519PublicKey(p.sk[:])
}

func (p *x25519Private) dh(peer []byte) ([]byte, error) {
	if p.key == nil {
		k, err := ecdh.X25519().NewPrivateKey(p.sk[:])
		if err != nil {
			return nil, errors.New("ciphersuite: invalid HPKE private key")
		}
		p.key = k
	}
	return ecdhPrivate{ecdh.X25519(), p.key}.dh(peer)
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
