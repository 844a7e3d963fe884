package ciphersuite

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"hash"

	"github.com/cloudflare/circl/dh/x448"
)

// kem is an HPKE key encapsulation mechanism (RFC 9180 section 4). Keys and
// encapsulations travel as bytes in their RFC 9180 serialized forms, so a
// post-quantum or hybrid KEM (ML-KEM, X-Wing) can be added by implementing
// this interface and registering it in a Suite, without touching the HPKE
// key schedule or the MLS functions built on it.
type kem interface {
	// id is the HPKE KEM identifier (RFC 9180 section 7.1).
	id() uint16
	// privateKeySize is Nsk, publicKeySize is Npk, encSize is Nenc.
	privateKeySize() int
	publicKeySize() int
	encSize() int
	// The hpkeSuite checks input lengths against these sizes before it calls
	// publicKey, encap and decap.
	//
	// generate returns a fresh key pair (private key serialized).
	generate() (priv, pub []byte, err error)
	// derive is DeriveKeyPair(ikm).
	derive(ikm []byte) (priv, pub []byte, err error)
	// publicKey returns the public key of a serialized private key.
	publicKey(priv []byte) ([]byte, error)
	// encap is Encap(pkR): a fresh shared secret and its encapsulation.
	encap(pub []byte) (shared, enc []byte, err error)
	// decap is Decap(enc, skR).
	decap(enc, priv []byte) (shared []byte, err error)
	// checkPublicKey runs the public key checks encap would run, so a key
	// encap would refuse is refused before it enters a tree.
	checkPublicKey(pub []byte) error
}

// dhGroup is the Diffie-Hellman group under a DHKEM.
type dhGroup interface {
	generate() (dhPrivate, error)
	// parse deserializes and validates a private key.
	parse(priv []byte) (dhPrivate, error)
	// checkPublic validates a public key of the right length.
	checkPublic(pub []byte) error
}

// dhPrivate is a parsed DH private key.
type dhPrivate interface {
	bytes() []byte
	publicKey() []byte
	// dh computes DH(sk, pk); it rejects invalid peer keys and, as RFC 9180
	// section 7.1.4 requires, an all-zero shared secret.
	dh(peer []byte) ([]byte, error)
}

// dhkem is DHKEM(Group, KDF) of RFC 9180 section 4.1.
type dhkem struct {
	kemID   uint16
	group   dhGroup
	kdf     func() hash.Hash
	nsecret int // Nsecret, the KDF's output size
	nsk     int
	npk     int
	// nist selects the rejection-sampling DeriveKeyPair of the NIST curves,
	// with bitmask applied to the first candidate byte (RFC 9180 section 7.1.3).
	nist    bool
	bitmask byte
	suiteID []byte // "KEM" || I2OSP(kem_id, 2)
}

func newDHKEM(kemID uint16, g dhGroup, kdf func() hash.Hash, nsk, npk int, nist bool, bitmask byte) *dhkem {
	return &dhkem{
		kemID: kemID, group: g, kdf: kdf, nsecret: kdf().Size(), nsk: nsk, npk: npk,
		nist: nist, bitmask: bitmask,
		suiteID: []byte{'K', 'E', 'M', byte(kemID >> 8), byte(kemID)},
	}
}

func (k *dhkem) id() uint16          { return k.kemID }
func (k *dhkem) privateKeySize() int { return k.nsk }
func (k *dhkem) publicKeySize() int  { return k.npk }
func (k *dhkem) encSize() int        { return k.npk }

func (k *dhkem) generate() (priv, pub []byte, err error) {
	sk, err := k.group.generate()
	if err != nil {
		return nil, nil, err
	}
	return sk.bytes(), sk.publicKey(), nil
}

func (k *dhkem) derive(ikm []byte) (priv, pub []byte, err error) {
	prk := labeledExtract(k.kdf, k.suiteID, nil, "dkp_prk", ikm)
	if !k.nist {
		sk, err := labeledExpand(k.kdf, k.suiteID, prk, "sk", nil, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		p, err := k.group.parse(sk)
		if err != nil {
			return nil, nil, err
		}
		return p.bytes(), p.publicKey(), nil
	}
	for counter := 0; counter <= 255; counter++ {
		candidate, err := labeledExpand(k.kdf, k.suiteID, prk, "candidate", []byte{byte(counter)}, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		candidate[0] &= k.bitmask
		// parse rejects zero and scalars not below the group order, the
		// two cases the rejection loop must skip.
		if p, err := k.group.parse(candidate); err == nil {
			return p.bytes(), p.publicKey(), nil
		}
	}
	return nil, nil, errors.New("ciphersuite: DeriveKeyPair found no valid scalar")
}

func (k *dhkem) publicKey(priv []byte) ([]byte, error) {
	sk, err := k.group.parse(priv)
	if err != nil {
		return nil, err
	}
	return sk.publicKey(), nil
}

func (k *dhkem) encap(pub []byte) (shared, enc []byte, err error) {
	skE, err := k.group.generate()
	if err != nil {
		return nil, nil, err
	}
	dh, err := skE.dh(pub)
	if err != nil {
		return nil, nil, err
	}
	enc = skE.publicKey()
	shared, err = k.extractAndExpand(dh, enc, pub)
	return shared, enc, err
}

func (k *dhkem) decap(enc, priv []byte) ([]byte, error) {
	skR, err := k.group.parse(priv)
	if err != nil {
		return nil, err
	}
	dh, err := skR.dh(enc)
	if err != nil {
		return nil, err
	}
	return k.extractAndExpand(dh, enc, skR.publicKey())
}

func (k *dhkem) checkPublicKey(pub []byte) error { return k.group.checkPublic(pub) }

// extractAndExpand derives the shared secret from dh and kem_context = enc || pkRm.
func (k *dhkem) extractAndExpand(dh, enc, pkR []byte) ([]byte, error) {
	prk := labeledExtract(k.kdf, k.suiteID, nil, "eae_prk", dh)
	kemContext := make([]byte, 0, len(enc)+len(pkR))
	kemContext = append(append(kemContext, enc...), pkR...)
	return labeledExpand(k.kdf, k.suiteID, prk, "shared_secret", kemContext, k.nsecret)
}

// ecdhGroup is a crypto/ecdh curve: P-256, P-384, P-521 or X25519.
type ecdhGroup struct{ curve ecdh.Curve }

type ecdhPrivate struct {
	curve ecdh.Curve
	key   *ecdh.PrivateKey
}

func (g ecdhGroup) generate() (dhPrivate, error) {
	k, err := g.curve.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ecdhPrivate{g.curve, k}, nil
}

func (g ecdhGroup) parse(priv []byte) (dhPrivate, error) {
	k, err := g.curve.NewPrivateKey(priv)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid HPKE private key")
	}
	return ecdhPrivate{g.curve, k}, nil
}

func (g ecdhGroup) checkPublic(pub []byte) error {
	if _, err := g.curve.NewPublicKey(pub); err != nil {
		return errors.New("ciphersuite: invalid HPKE public key")
	}
	return nil
}

// bytes is SerializePrivateKey, which for X25519 clamps the scalar
// (RFC 9180 section 7.1.2); X25519 clamps its input anyway.
func (p ecdhPrivate) bytes() []byte {
	b := p.key.Bytes()
	if p.curve == ecdh.X25519() {
		b[0] &= 248
		b[31] = b[31]&127 | 64
	}
	return b
}

func (p ecdhPrivate) publicKey() []byte { return p.key.PublicKey().Bytes() }

func (p ecdhPrivate) dh(peer []byte) ([]byte, error) {
	pk, err := p.curve.NewPublicKey(peer)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	// crypto/ecdh rejects an all-zero X25519 output (a low-order peer key).
	z, err := p.key.ECDH(pk)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid DH result (low-order public key)")
	}
	return z, nil
}

// x448Group is X448 (RFC 7748) from circl, which crypto/ecdh lacks.
type x448Group struct{}

type x448Private struct{ sk, pk x448.Key }

func (x448Group) generate() (dhPrivate, error) {
	var sk [x448.Size]byte
	if _, err := rand.Read(sk[:]); err != nil {
		return nil, err
	}
	return x448Group{}.parse(sk[:])
}

func (x448Group) parse(priv []byte) (dhPrivate, error) {
	if len(priv) != x448.Size {
		return nil, errors.New("ciphersuite: invalid HPKE private key")
	}
	p := &x448Private{}
	copy(p.sk[:], priv)
	x448.KeyGen(&p.pk, &p.sk)
	return p, nil
}

// checkPublic accepts any X448 string: low-order points are rejected when
// they are used (dh).
func (x448Group) checkPublic([]byte) error { return nil }

// bytes is SerializePrivateKey, which clamps the scalar (RFC 9180 section
// 7.1.2); X448 clamps its input anyway.
func (p *x448Private) bytes() []byte {
	b := append([]byte(nil), p.sk[:]...)
	b[0] &= 252
	b[55] |= 128
	return b
}

func (p *x448Private) publicKey() []byte { return append([]byte(nil), p.pk[:]...) }

func (p *x448Private) dh(peer []byte) ([]byte, error) {
	if len(peer) != x448.Size {
		return nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	var pk, z x448.Key
	copy(pk[:], peer)
	ok := x448.Shared(&z, &p.sk, &pk)
	var zero x448.Key
	if !ok || subtle.ConstantTimeCompare(z[:], zero[:]) == 1 {
		return nil, errors.New("ciphersuite: invalid DH result (low-order public key)")
	}
	return z[:], nil
}
