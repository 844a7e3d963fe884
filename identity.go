package mls

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// Identity is who a client is in MLS: a credential and the private
// signature key whose public half the credential vouches for (RFC 9420
// section 5.3). Its cipher suite is the signing key's.
//
// An Identity can be built as a literal from an existing key; NewIdentity
// and NewBasicIdentity generate a fresh key, NewX509Identity takes the key
// of a certificate. To use one key in two suites with the same signature
// scheme (suites 1 and 3, say), parse it in each with
// Suite.ParseSigningKey(key.Bytes()). String never shows the private key.
//
// The signing key may live outside the process, in an HSM, a cloud KMS or
// a platform keystore: make it with Suite.SigningKeyFromSigner from a
// crypto.Signer (Ed25519 and ECDSA P-256, P-384, P-521 suites) and use
// NewSignerIdentity or NewX509Identity. Such an identity works everywhere
// another does (KeyPackages, groups, commits, proposals, messages), but
// its private key cannot be stored: MarshalBinary and Group.MarshalBinary
// keep the public key as a reference, UnmarshalBinary refuses it with
// ErrExternalSigningKey, and LoadGroup asks Config.Signers for the signer.
type Identity struct {
	Credential Credential
	SigningKey *ciphersuite.SigningKey
}

// NewIdentity returns an Identity with credential cred and a fresh
// signature key of suite. An X.509 credential must certify an existing key:
// use NewX509Identity for it.
func NewIdentity(suite ciphersuite.ID, cred Credential) (*Identity, error) {
	if cred.CredentialType == CredentialTypeX509 {
		return nil, errors.New("mls: an x509 credential certifies an existing key: use NewX509Identity")
	}
	if err := checkSendable("a credential type", cred.CredentialType); err != nil {
		return nil, err
	}
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return nil, err
	}
	key, err := s.GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	return &Identity{Credential: cred, SigningKey: key}, nil
}

// NewSignerIdentity returns an Identity with credential cred whose signing
// key is held by sg, in suite (see Suite.SigningKeyFromSigner for what sg
// must be). Use NewX509Identity for an X.509 credential.
func NewSignerIdentity(suite ciphersuite.ID, cred Credential, sg crypto.Signer) (*Identity, error) {
	if cred.CredentialType == CredentialTypeX509 {
		return nil, errors.New("mls: an x509 credential is checked against its key: use NewX509Identity")
	}
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return nil, err
	}
	key, err := s.SigningKeyFromSigner(sg)
	if err != nil {
		return nil, err
	}
	return &Identity{Credential: cred, SigningKey: key}, nil
}

// ErrExternalSigningKey reports a stored identity whose signing key is held
// by a crypto.Signer, so that the stored form has only its public key.
var ErrExternalSigningKey = errors.New("mls: the signing key is held by a crypto.Signer and is not stored")

// NewBasicIdentity returns an Identity with a basic credential for name and
// a fresh signature key of suite. A basic credential is only a claim; the
// group's CredentialValidator decides whether to believe it.
func NewBasicIdentity(suite ciphersuite.ID, name string) (*Identity, error) {
	return NewIdentity(suite, NewBasicCredential([]byte(name)))
}

// Suite returns the cipher suite of the identity's signing key, or 0 when
// it has none.
func (id *Identity) Suite() ciphersuite.ID {
	if id == nil || id.SigningKey == nil {
		return 0
	}
	return id.SigningKey.Suite()
}

// suite checks that id can sign and returns its suite.
func (id *Identity) suite() (*ciphersuite.Suite, error) {
	if id == nil || id.SigningKey == nil {
		return nil, errors.New("mls: identity without a signing key")
	}
	return ciphersuite.Lookup(id.SigningKey.Suite())
}

// String describes the credential and the suite; the private key never
// appears. It and GoString have value receivers so that formatting an
// Identity value is redacted too.
func (id Identity) String() string {
	suite := "no signing key"
	if id.SigningKey != nil {
		suite = id.SigningKey.Suite().String() + ", signing key redacted"
	}
	return fmt.Sprintf("mls.Identity(%s, %s)", describeCredential(&id.Credential), suite)
}

// GoString keeps %#v from printing the private key.
func (id Identity) GoString() string { return id.String() }

// describeCredential summarizes c for String methods: the type and, for a
// basic credential, the (public) identity, shortened.
func describeCredential(c *Credential) string {
	switch c.CredentialType {
	case CredentialTypeBasic:
		const max = 64
		if len(c.Identity) > max {
			return fmt.Sprintf("basic %q...", c.Identity[:max])
		}
		return fmt.Sprintf("basic %q", c.Identity)
	case CredentialTypeX509:
		return fmt.Sprintf("x509, %d certificates", len(c.Certificates))
	default:
		return c.CredentialType.String()
	}
}

// identityFormat starts the storage encoding of an Identity: kind 0x01,
// version 0x01. identityFormatExternal is the form of an identity whose
// key is a crypto.Signer: the same fields, with the public key in place
// of the private one.
const (
	identityFormat         = 0x0101
	identityFormatExternal = 0x0102
)

// MarshalBinary returns a storage encoding of id, private key included:
//
//	struct {
//	    uint16 format = 0x0101;          // Identity, version 1
//	    CipherSuite cipher_suite;
//	    Credential credential;
//	    opaque signature_private_key<V>; // raw EdDSA seed or ECDSA scalar
//	}
//
// Keep it as secret as the key. It is an Arbor format, not an MLS message.
// When the key is a crypto.Signer (Suite.SigningKeyFromSigner), the format
// is 0x0102 and the last field holds the signature public key instead: a
// reference to the key, which UnmarshalBinary refuses with
// ErrExternalSigningKey and LoadGroup resolves through Config.Signers.
func (id *Identity) MarshalBinary() ([]byte, error) {
	if _, err := id.suite(); err != nil {
		return nil, err
	}
	b := codec.NewBuilder(256)
	key := id.SigningKey.Bytes()
	if id.SigningKey.Signer() != nil {
		b.AddUint16(identityFormatExternal)
		key = id.SigningKey.PublicKey()
	} else {
		b.AddUint16(identityFormat)
	}
	b.AddUint16(uint16(id.SigningKey.Suite()))
	id.Credential.marshal(b)
	b.AddOpaque(key)
	return b.Bytes()
}

// UnmarshalBinary decodes an Identity stored by MarshalBinary. An identity
// whose key is a crypto.Signer is refused with ErrExternalSigningKey: build
// it again with NewSignerIdentity.
func (id *Identity) UnmarshalBinary(data []byte) error {
	return id.unmarshal(data, nil)
}

// unmarshal decodes an Identity stored by MarshalBinary; signers, when not
// nil, gives the crypto.Signer of an external key.
func (id *Identity) unmarshal(data []byte, signers func(ciphersuite.ID, []byte) (crypto.Signer, error)) error {
	r := codec.NewReader(data)
	format := r.ReadUint16()
	suiteID := ciphersuite.ID(r.ReadUint16())
	var cred Credential
	cred.unmarshal(r)
	keyBytes := r.ReadOpaque()
	defer clear(keyBytes)
	if err := r.Finish(); err != nil {
		return &decodeError{typ: "Identity", err: err}
	}
	if format != identityFormat && format != identityFormatExternal {
		return &decodeError{typ: "Identity", err: fmt.Errorf("unknown format 0x%04x", format)}
	}
	s, err := ciphersuite.Lookup(suiteID)
	if err != nil {
		return &decodeError{typ: "Identity", err: err}
	}
	var key *ciphersuite.SigningKey
	if format == identityFormatExternal {
		if signers == nil {
			return ErrExternalSigningKey
		}
		sg, err := signers(suiteID, bytes.Clone(keyBytes))
		if err != nil {
			return fmt.Errorf("mls: looking up the identity's crypto.Signer: %w", err)
		}
		if key, err = s.SigningKeyFromSigner(sg); err != nil {
			return err
		}
		// The stored public key must be the signer's, byte for byte, which
		// also keeps this storage form canonical.
		if !bytes.Equal(key.PublicKey(), keyBytes) {
			return errors.New("mls: the crypto.Signer found for the stored identity has another public key")
		}
	} else {
		if key, err = s.ParseSigningKey(keyBytes); err != nil {
			return &decodeError{typ: "Identity", err: err}
		}
		// ParseSigningKey accepts ECDSA scalars without their leading
		// zeros (the official vectors hold such keys), but MarshalBinary
		// writes the full width: accept only what it writes, so that the
		// storage form is canonical (one encoding per Identity).
		if !bytes.Equal(key.Bytes(), keyBytes) {
			return &decodeError{typ: "Identity", err: fmt.Errorf("%v signature private key is not in its fixed-width form", suiteID)}
		}
	}
	*id = Identity{Credential: cred, SigningKey: key}
	return nil
}
