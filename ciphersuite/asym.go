package ciphersuite

import "errors"

// errNotImplemented marks the asymmetric half, which is being written.
var errNotImplemented = errors.New("ciphersuite: not implemented")

// SigningKey is a parsed private signature key of one suite.
type SigningKey struct {
	suite ID // set by ParseSigningKey and GenerateSigningKey
	priv  []byte
	pub   []byte
}

// PublicKey returns the encoded signature public key.
func (k *SigningKey) PublicKey() []byte { return k.pub }

// Bytes returns the encoded private key (raw EdDSA seed or ECDSA scalar).
func (k *SigningKey) Bytes() []byte { return k.priv }

// String never reveals the private key.
func (k *SigningKey) String() string { return "ciphersuite.SigningKey(redacted)" }

// GenerateSigningKey returns a fresh signature key pair.
func (s *Suite) GenerateSigningKey() (*SigningKey, error) { return nil, errNotImplemented }

// ParseSigningKey parses an encoded private signature key.
func (s *Suite) ParseSigningKey(priv []byte) (*SigningKey, error) { return nil, errNotImplemented }

// SignWithLabel signs SignContent{"MLS 1.0 " + label, content}.
func (s *Suite) SignWithLabel(k *SigningKey, label string, content []byte) ([]byte, error) {
	return nil, errNotImplemented
}

// VerifyWithLabel verifies a signature over SignContent{"MLS 1.0 " + label, content}.
// It returns ErrVerification when the signature is wrong.
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, signature []byte) error {
	return errNotImplemented
}

// GenerateHPKEKeyPair returns a fresh HPKE key pair (private key serialized).
func (s *Suite) GenerateHPKEKeyPair() (priv, pub []byte, err error) {
	return nil, nil, errNotImplemented
}

// DeriveHPKEKeyPair is the KEM's DeriveKeyPair(ikm) (RFC 9180 section 7.1.3).
func (s *Suite) DeriveHPKEKeyPair(ikm []byte) (priv, pub []byte, err error) {
	return nil, nil, errNotImplemented
}

// HPKEPublicKey returns the public key of a serialized HPKE private key.
func (s *Suite) HPKEPublicKey(priv []byte) ([]byte, error) { return nil, errNotImplemented }

// EncryptWithLabel is SealBase(pub, EncryptContext{"MLS 1.0 " + label, context}, "", plaintext).
func (s *Suite) EncryptWithLabel(pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return s.NewEncryptor(label, context).Seal(pub, plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, priv, EncryptContext{"MLS 1.0 " + label, context}, "", ciphertext).
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	return nil, errNotImplemented
}

// Encryptor seals many plaintexts under one label and context, hashing the
// (possibly large) context once instead of once per recipient. A Welcome for
// many new members uses one, since its context is the encrypted GroupInfo.
type Encryptor struct{}

// NewEncryptor precomputes the HPKE key-schedule input for label and context.
func (s *Suite) NewEncryptor(label string, context []byte) *Encryptor {
	return &Encryptor{}
}

// Seal encrypts plaintext to pub, as EncryptWithLabel would.
func (e *Encryptor) Seal(pub, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	return nil, nil, errNotImplemented
}

// Suite returns the ID of the suite the key belongs to.
func (k *SigningKey) Suite() ID { return k.suite }
