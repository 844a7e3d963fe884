package mls

import (
	"bytes"
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
// version 0x01.
const identityFormat = 0x0101

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
func (id *Identity) MarshalBinary() ([]byte, error) {
	if _, err := id.suite(); err != nil {
		return nil, err
	}
	b := codec.NewBuilder(256)
	b.AddUint16(identityFormat)
	b.AddUint16(uint16(id.SigningKey.Suite()))
	id.Credential.marshal(b)
	b.AddOpaque(id.SigningKey.Bytes())
	return b.Bytes()
}

// UnmarshalBinary decodes an Identity stored by MarshalBinary.
func (id *Identity) UnmarshalBinary(data []byte) error {
	r := codec.NewReader(data)
	format := r.ReadUint16()
	suiteID := ciphersuite.ID(r.ReadUint16())
	var cred Credential
	cred.unmarshal(r)
	priv := r.ReadOpaque()
	if err := r.Finish(); err != nil {
		return &decodeError{typ: "Identity", err: err}
	}
	if format != identityFormat {
		return &decodeError{typ: "Identity", err: fmt.Errorf("unknown format 0x%04x", format)}
	}
	s, err := ciphersuite.Lookup(suiteID)
	if err != nil {
		return &decodeError{typ: "Identity", err: err}
	}
	key, err := s.ParseSigningKey(priv)
	// ParseSigningKey accepts ECDSA scalars without their leading zeros
	// (the official vectors hold such keys), but MarshalBinary writes the
	// full width: accept only what it writes, so that the storage form
	// is canonical (one encoding per Identity).
	canonical := err == nil && bytes.Equal(key.Bytes(), priv)
	clear(priv)
	if err != nil {
		return &decodeError{typ: "Identity", err: err}
	}
	if !canonical {
		return &decodeError{typ: "Identity", err: fmt.Errorf("%v signature private key is not in its fixed-width form", suiteID)}
	}
	*id = Identity{Credential: cred, SigningKey: key}
	return nil
}
