package mls

import (
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// CredentialType identifies the kind of a Credential (RFC 9420 section 5.3).
type CredentialType uint16

// The credential types of RFC 9420.
const (
	CredentialTypeBasic CredentialType = 1
	CredentialTypeX509  CredentialType = 2
)

// String returns the RFC 9420 name of t.
func (t CredentialType) String() string {
	return enumName(t, "CredentialType", "basic", "x509")
}

// Credential binds an identity to a member's signature key (RFC 9420
// section 5.3).
//
// Which field is used depends on CredentialType: Identity for basic,
// Certificates for x509, and Data for any other type. RFC 9420 defines no
// body for other types; like other implementations, Arbor reads and writes
// it as one opaque<V> so that credentials of unknown types round-trip.
type Credential struct {
	CredentialType CredentialType
	// Identity is the application-defined identity of a basic credential.
	Identity []byte
	// Certificates is the DER-encoded X.509 chain of an x509 credential,
	// end-entity certificate first.
	Certificates [][]byte
	// Data is the opaque body of a credential of another type.
	Data []byte
}

// NewBasicCredential returns a basic credential for identity.
func NewBasicCredential(identity []byte) Credential {
	return Credential{CredentialType: CredentialTypeBasic, Identity: identity}
}

func (c *Credential) marshal(b *codec.Builder) {
	b.AddUint16(uint16(c.CredentialType))
	switch c.CredentialType {
	case CredentialTypeBasic:
		if c.Certificates != nil || c.Data != nil {
			b.SetError(fmt.Errorf("mls: basic credential with certificates or data"))
		}
		b.AddOpaque(c.Identity)
	case CredentialTypeX509:
		if c.Identity != nil || c.Data != nil {
			b.SetError(fmt.Errorf("mls: x509 credential with identity or data"))
		}
		marshalOpaques(b, c.Certificates)
	default:
		if c.Identity != nil || c.Certificates != nil {
			b.SetError(fmt.Errorf("mls: %v credential with identity or certificates", c.CredentialType))
		}
		b.AddOpaque(c.Data)
	}
}

func (c *Credential) unmarshal(r *codec.Reader) {
	*c = Credential{CredentialType: CredentialType(r.ReadUint16())}
	switch c.CredentialType {
	case CredentialTypeBasic:
		c.Identity = r.ReadOpaque()
	case CredentialTypeX509:
		c.Certificates = unmarshalOpaques(r)
	default:
		c.Data = r.ReadOpaque()
	}
}

// MarshalBinary returns the encoding of c.
func (c *Credential) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalBinary decodes c from data, which must hold exactly one Credential.
func (c *Credential) UnmarshalBinary(data []byte) error { return decode("Credential", data, c) }
