package ciphersuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"hash"
)

// signatureScheme is a signature algorithm of a suite. Keys and signatures
// travel in the encodings of RFC 9420 section 5.1.1 and 5.1.2. A new scheme
// (ML-DSA, say) is added by implementing this interface and registering it
// in a Suite.
type signatureScheme interface {
	name() string
	generate() (signer, error)
	// parsePrivate parses an encoded private key.
	parsePrivate(priv []byte) (signer, error)
	// verify checks sig over the encoded msg. It returns ErrVerification for
	// a wrong signature and another error for a malformed public key.
	verify(pub []byte, msg labeledContent, sig []byte) error
}

// signer is a parsed private key of some signatureScheme.
type signer interface {
	sign(msg labeledContent) ([]byte, error)
	privateBytes() []byte
	publicBytes() []byte
}

var errMalformedSignatureKey = errors.New("ciphersuite: malformed signature public key")

// eddsaScheme is pure EdDSA (RFC 8032): Ed25519, or Ed448 with an empty
// context. Private keys are the raw seeds; both libraries expand a seed into
// a key of seed || public key.
type eddsaScheme struct {
	label    string
	seedSize int
	pubSize  int
	fromSeed func(seed []byte) []byte
	signFn   func(key, msg []byte) []byte
	verifyFn func(pub, msg, sig []byte) bool
	// verifyLabeled, when set, is verifyFn hashing SignContent as it goes
	// rather than copying it first (a commit can be megabytes).
	verifyLabeled func(pub []byte, msg labeledContent, sig []byte) (bool, error)
}

type eddsaSigner struct {
	scheme *eddsaScheme
	key    []byte // seed || public key
}

func (e *eddsaScheme) name() string { return e.label }

func (e *eddsaScheme) generate() (signer, error) {
	seed := make([]byte, e.seedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return e.parsePrivate(seed)
}

func (e *eddsaScheme) parsePrivate(priv []byte) (signer, error) {
	if len(priv) != e.seedSize {
		return nil, fmt.Errorf("ciphersuite: %s private key is %d bytes, want %d", e.label, len(priv), e.seedSize)
	}
	return &eddsaSigner{e, e.fromSeed(priv)}, nil
}

func (e *eddsaScheme) verify(pub []byte, msg labeledContent, sig []byte) error {
	// The length check also keeps crypto/ed25519 from panicking.
	if len(pub) != e.pubSize {
		return errMalformedSignatureKey
	}
	if e.verifyLabeled != nil {
		ok, err := e.verifyLabeled(pub, msg, sig)
		if err == nil && !ok {
			err = ErrVerification
		}
		return err
	}
	m, err := msg.marshal()
	if err != nil {
		return err
	}
	if !e.verifyFn(pub, m, sig) {
		return ErrVerification
	}
	return nil
}

func (k *eddsaSigner) sign(msg labeledContent) ([]byte, error) {
	m, err := msg.marshal()
	if err != nil {
		return nil, err
	}
	return k.scheme.signFn(k.key, m), nil
}

func (k *eddsaSigner) privateBytes() []byte {
	return append([]byte(nil), k.key[:k.scheme.seedSize]...)
}

func (k *eddsaSigner) publicBytes() []byte {
	return append([]byte(nil), k.key[k.scheme.seedSize:]...)
}

// ecdsaScheme is ECDSA over a NIST curve with the given hash. Public keys
// are uncompressed SEC1 points, private keys big-endian scalars, signatures
// ASN.1 DER (RFC 9420 section 5.1.1).
type ecdsaScheme struct {
	label  string
	curve  elliptic.Curve
	hash   func() hash.Hash
	hashID crypto.Hash // hash, named for crypto.Signer
}

type ecdsaSigner struct {
	scheme *ecdsaScheme
	key    *ecdsa.PrivateKey
	priv   []byte
	pub    []byte
}

func (e *ecdsaScheme) name() string { return e.label }

func (e *ecdsaScheme) generate() (signer, error) {
	k, err := ecdsa.GenerateKey(e.curve, rand.Reader)
	if err != nil {
		return nil, err
	}
	priv, err := k.Bytes()
	if err != nil {
		return nil, err
	}
	return e.newSigner(k, priv)
}

func (e *ecdsaScheme) parsePrivate(priv []byte) (signer, error) {
	// Accept scalars serialized without leading zeros: the official vectors
	// hold 65-byte P-521 signature keys.
	priv = leftPad(priv, (e.curve.Params().BitSize+7)/8)
	k, err := ecdsa.ParseRawPrivateKey(e.curve, priv)
	if err != nil {
		return nil, fmt.Errorf("ciphersuite: invalid %s private key", e.label)
	}
	return e.newSigner(k, append([]byte(nil), priv...))
}

func (e *ecdsaScheme) newSigner(k *ecdsa.PrivateKey, priv []byte) (signer, error) {
	pub, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &ecdsaSigner{scheme: e, key: k, priv: priv, pub: pub}, nil
}

// digest hashes the encoded msg without building it: it may be large.
func (e *ecdsaScheme) digest(msg labeledContent) ([]byte, error) {
	h := e.hash()
	if err := msg.writeTo(h); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func (e *ecdsaScheme) verify(pub []byte, msg labeledContent, sig []byte) error {
	// ParseUncompressedPublicKey rejects points not on the curve.
	pk, err := ecdsa.ParseUncompressedPublicKey(e.curve, pub)
	if err != nil {
		return errMalformedSignatureKey
	}
	d, err := e.digest(msg)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(pk, d, sig) {
		return ErrVerification
	}
	return nil
}

func (k *ecdsaSigner) sign(msg labeledContent) ([]byte, error) {
	d, err := k.scheme.digest(msg)
	if err != nil {
		return nil, err
	}
	return ecdsa.SignASN1(rand.Reader, k.key, d)
}

func (k *ecdsaSigner) privateBytes() []byte { return k.priv }
func (k *ecdsaSigner) publicBytes() []byte  { return k.pub }

// leftPad returns b left-padded with zeros to n bytes when it is shorter.
func leftPad(b []byte, n int) []byte {
	if len(b) >= n || len(b) == 0 {
		return b
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out
}
