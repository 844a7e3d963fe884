package ciphersuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// SigningKeyFromSigner returns a SigningKey of suite s whose private key
// stays in sg: a hardware security module, a cloud KMS, a platform
// keystore (Android Keystore, Secure Enclave) or any other crypto.Signer.
// Ed25519 suites take a signer whose Public is an ed25519.PublicKey and
// which signs whole messages (crypto.Hash(0) options, as ed25519.PrivateKey
// does); ECDSA suites take one whose Public is an *ecdsa.PublicKey on the
// suite's curve and which returns ASN.1 DER signatures of a digest made
// with the suite's hash, as *ecdsa.PrivateKey does. Other schemes (Ed448,
// ML-DSA) have no crypto.Signer convention in the standard library and are
// refused.
//
// Such a key signs through sg every time: each signature MLS makes (leaf
// nodes, KeyPackages, commits, proposals, application messages, GroupInfo)
// is one call of sg.Sign, which may be slow or may block on a device. Its
// Bytes method returns nil, since the private key cannot be read, so a
// group or identity holding it cannot be stored with its private key: the
// storage forms say so with an error, or keep only a reference to the key
// (see mls.Identity).
func (s *Suite) SigningKeyFromSigner(sg crypto.Signer) (*SigningKey, error) {
	if sg == nil {
		return nil, errors.New("ciphersuite: nil crypto.Signer")
	}
	var pub []byte
	switch sch := s.sig.(type) {
	case *eddsaScheme:
		if s.sig != sigEd25519 {
			return nil, fmt.Errorf("ciphersuite: %s keys cannot come from a crypto.Signer", sch.label)
		}
		pk, ok := sg.Public().(ed25519.PublicKey)
		if !ok || len(pk) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("ciphersuite: suite %v needs an Ed25519 signer, got a %T public key", s.id, sg.Public())
		}
		pub = append([]byte(nil), pk...)
	case *ecdsaScheme:
		pk, ok := sg.Public().(*ecdsa.PublicKey)
		if !ok || pk.Curve != sch.curve {
			return nil, fmt.Errorf("ciphersuite: suite %v needs an %s signer, got a %T public key", s.id, sch.label, sg.Public())
		}
		var err error
		if pub, err = pk.Bytes(); err != nil {
			return nil, fmt.Errorf("ciphersuite: signer's public key: %w", err)
		}
	default:
		return nil, fmt.Errorf("ciphersuite: %s keys cannot come from a crypto.Signer", s.sig.name())
	}
	return &SigningKey{suite: s.id, scheme: s.sig, pub: pub, signer: &externalSigner{scheme: s.sig, sg: sg}}, nil
}

// Signer returns the crypto.Signer of a key made by SigningKeyFromSigner,
// whose private key cannot be exported, and nil for any other key.
func (k *SigningKey) Signer() crypto.Signer {
	if e, ok := k.signer.(*externalSigner); ok {
		return e.sg
	}
	return nil
}

// externalSigner signs through a crypto.Signer, in the way the scheme's
// own signer would.
type externalSigner struct {
	scheme signatureScheme
	sg     crypto.Signer
}

func (e *externalSigner) sign(msg labeledContent) ([]byte, error) {
	var sig []byte
	var err error
	switch sch := e.scheme.(type) {
	case *ecdsaScheme:
		var d []byte
		if d, err = sch.digest(msg); err != nil {
			return nil, err
		}
		sig, err = e.sg.Sign(rand.Reader, d, sch.hashID)
	default: // Ed25519: SigningKeyFromSigner allows nothing else
		var m []byte
		if m, err = msg.marshal(); err != nil {
			return nil, err
		}
		sig, err = e.sg.Sign(rand.Reader, m, crypto.Hash(0))
		if err == nil && len(sig) != ed25519.SignatureSize {
			err = fmt.Errorf("signature of %d bytes", len(sig))
		}
	}
	if err != nil {
		// The signer's error may come from a device or a remote service;
		// it is kept (wrapped) for the caller to branch on.
		return nil, fmt.Errorf("ciphersuite: crypto.Signer: %w", err)
	}
	return sig, nil
}

func (e *externalSigner) privateBytes() []byte { return nil }
func (e *externalSigner) publicBytes() []byte  { return nil }
