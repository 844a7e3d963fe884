package ciphersuite

import (
	"crypto/rand"
	"fmt"

	"github.com/cloudflare/circl/sign"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
)

// mldsaScheme is pure ML-DSA (FIPS 204) with an empty context, as
// draft-ietf-tls-mldsa uses it and the post-quantum MLS suites adopt it,
// from circl (the standard library has no public ML-DSA). The private key
// is the 32-byte seed xi of ML-DSA.KeyGen_internal, the form RFC 9881
// recommends and OpenMLS stores; public keys and signatures are the FIPS
// 204 encodings. Signing is hedged (fresh randomness mixed in), which
// circl offers only through each parameter set's SignTo.
type mldsaScheme struct {
	scheme sign.Scheme
	signTo func(sk sign.PrivateKey, msg, sig []byte) error
}

type mldsaSigner struct {
	scheme *mldsaScheme
	seed   []byte
	pub    []byte
	sk     sign.PrivateKey
}

const mldsaSeedSize = 32

func (m *mldsaScheme) name() string { return m.scheme.Name() }

func (m *mldsaScheme) generate() (signer, error) {
	seed := make([]byte, mldsaSeedSize)
	rand.Read(seed)
	return m.parsePrivate(seed)
}

func (m *mldsaScheme) parsePrivate(priv []byte) (signer, error) {
	if len(priv) != mldsaSeedSize { // DeriveKey panics otherwise
		return nil, fmt.Errorf("ciphersuite: %s private key is %d bytes, want the %d-byte seed", m.name(), len(priv), mldsaSeedSize)
	}
	pk, sk := m.scheme.DeriveKey(priv)
	pub, err := pk.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &mldsaSigner{scheme: m, seed: append([]byte(nil), priv...), pub: pub, sk: sk}, nil
}

func (m *mldsaScheme) verify(pub []byte, msg labeledContent, sig []byte) error {
	// Every byte string of the right length decodes as an ML-DSA public
	// key, so the length is the whole check.
	pk, err := m.scheme.UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return errMalformedSignatureKey
	}
	if len(sig) != m.scheme.SignatureSize() {
		return ErrVerification
	}
	b, err := msg.marshal()
	if err != nil {
		return err
	}
	if !m.scheme.Verify(pk, b, sig, nil) { // nil options: the empty context
		return ErrVerification
	}
	return nil
}

func (k *mldsaSigner) sign(msg labeledContent) ([]byte, error) {
	b, err := msg.marshal()
	if err != nil {
		return nil, err
	}
	sig := make([]byte, k.scheme.scheme.SignatureSize())
	if err := k.scheme.signTo(k.sk, b, sig); err != nil {
		return nil, err
	}
	return sig, nil
}

func (k *mldsaSigner) privateBytes() []byte { return append([]byte(nil), k.seed...) }
func (k *mldsaSigner) publicBytes() []byte  { return append([]byte(nil), k.pub...) }

// The three ML-DSA parameter sets.
var (
	sigMLDSA44 signatureScheme = &mldsaScheme{mldsa44.Scheme(), func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa44.SignTo(sk.(*mldsa44.PrivateKey), msg, nil, true, sig)
	}}
	sigMLDSA65 signatureScheme = &mldsaScheme{mldsa65.Scheme(), func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa65.SignTo(sk.(*mldsa65.PrivateKey), msg, nil, true, sig)
	}}
	sigMLDSA87 signatureScheme = &mldsaScheme{mldsa87.Scheme(), func(sk sign.PrivateKey, msg, sig []byte) error {
		return mldsa87.SignTo(sk.(*mldsa87.PrivateKey), msg, nil, true, sig)
	}}
)
