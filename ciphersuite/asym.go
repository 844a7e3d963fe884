package ciphersuite

import (
	"errors"
	"fmt"
	"io"

	"github.com/arbormls/mls/internal/codec"
)

// mlsLabelPrefix starts every label of SignContent and EncryptContext.
const mlsLabelPrefix = "MLS 1.0 "

// labeledContent is SignContent and EncryptContext (RFC 9420 section 5.1.2
// and 5.1.3), which share one shape:
//
//	struct { opaque label<V> = "MLS 1.0 " + label; opaque content<V>; }
type labeledContent struct {
	label   string
	content []byte
}

// writeTo streams the encoding into w (a hash), so that a large content
// (a GroupInfo with the ratchet tree inline) is never copied.
func (c labeledContent) writeTo(w io.Writer) error {
	lh, err := codec.AppendVarint(nil, uint64(len(mlsLabelPrefix)+len(c.label)))
	if err != nil {
		return fmt.Errorf("ciphersuite: label too long: %w", err)
	}
	ch, err := codec.AppendVarint(nil, uint64(len(c.content)))
	if err != nil {
		return fmt.Errorf("ciphersuite: content too long: %w", err)
	}
	w.Write(lh)
	io.WriteString(w, mlsLabelPrefix)
	io.WriteString(w, c.label)
	w.Write(ch)
	w.Write(c.content)
	return nil
}

// marshal returns the encoding, for schemes that need the whole message.
func (c labeledContent) marshal() ([]byte, error) {
	b := codec.NewBuilder(8 + len(mlsLabelPrefix) + len(c.label) + len(c.content))
	b.AddVarint(uint64(len(mlsLabelPrefix) + len(c.label)))
	b.AddRaw([]byte(mlsLabelPrefix))
	b.AddRaw([]byte(c.label))
	b.AddOpaque(c.content)
	return b.Bytes()
}

// SigningKey is a parsed private signature key of one suite.
type SigningKey struct {
	suite  ID // set by ParseSigningKey and GenerateSigningKey
	scheme signatureScheme
	priv   []byte
	pub    []byte
	signer signer // the parsed key, so that signing does not parse again
}

// PublicKey returns the encoded signature public key.
func (k *SigningKey) PublicKey() []byte { return k.pub }

// Bytes returns the encoded private key (raw EdDSA seed, ECDSA scalar or
// ML-DSA seed), or nil for a key held by a crypto.Signer
// (SigningKeyFromSigner), which cannot be exported.
func (k *SigningKey) Bytes() []byte { return k.priv }

// String never reveals the private key. It and GoString have value
// receivers so that formatting a SigningKey value is redacted too.
func (k SigningKey) String() string { return "ciphersuite.SigningKey(redacted)" }

// GoString keeps %#v from printing the private key.
func (k SigningKey) GoString() string { return k.String() }

// Suite returns the ID of the suite the key belongs to.
func (k *SigningKey) Suite() ID { return k.suite }

func (s *Suite) newSigningKey(sg signer) *SigningKey {
	return &SigningKey{suite: s.id, scheme: s.sig, priv: sg.privateBytes(), pub: sg.publicBytes(), signer: sg}
}

// GenerateSigningKey returns a fresh signature key pair.
func (s *Suite) GenerateSigningKey() (*SigningKey, error) {
	sg, err := s.sig.generate()
	if err != nil {
		return nil, err
	}
	return s.newSigningKey(sg), nil
}

// ParseSigningKey parses an encoded private signature key.
func (s *Suite) ParseSigningKey(priv []byte) (*SigningKey, error) {
	sg, err := s.sig.parsePrivate(priv)
	if err != nil {
		return nil, err
	}
	return s.newSigningKey(sg), nil
}

// SignWithLabel signs SignContent{"MLS 1.0 " + label, content}. The key may
// come from any suite with the same signature scheme.
func (s *Suite) SignWithLabel(k *SigningKey, label string, content []byte) ([]byte, error) {
	if k == nil || k.signer == nil {
		return nil, errors.New("ciphersuite: signing key not made by ParseSigningKey, GenerateSigningKey or SigningKeyFromSigner")
	}
	if k.scheme != s.sig {
		return nil, fmt.Errorf("ciphersuite: %s signing key of suite %v used with %s signatures", k.scheme.name(), k.suite, s.sig.name())
	}
	return k.signer.sign(labeledContent{label, content})
}

// VerifyWithLabel verifies a signature over SignContent{"MLS 1.0 " + label, content}.
// It returns ErrVerification when the signature is wrong and another error
// when the public key is malformed (including ECDSA points off the curve).
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, signature []byte) error {
	return s.sig.verify(pub, labeledContent{label, content}, signature)
}
