package mls

import "github.com/arbormls/mls/internal/codec"

// ExtensionType identifies an Extension (RFC 9420 section 13.4 and the
// "MLS Extension Types" IANA registry).
type ExtensionType uint16

// The extension types of RFC 9420.
const (
	ExtensionTypeApplicationID        ExtensionType = 1
	ExtensionTypeRatchetTree          ExtensionType = 2
	ExtensionTypeRequiredCapabilities ExtensionType = 3
	ExtensionTypeExternalPub          ExtensionType = 4
	ExtensionTypeExternalSenders      ExtensionType = 5
)

// String returns the RFC 9420 name of t.
func (t ExtensionType) String() string {
	return enumName(t, "ExtensionType", "application_id", "ratchet_tree", "required_capabilities", "external_pub", "external_senders")
}

// Extension is one extension of a LeafNode, KeyPackage, GroupContext or
// GroupInfo (RFC 9420 section 7.2). ExtensionData is the encoding of the
// extension's content, whose structure depends on ExtensionType.
type Extension struct {
	ExtensionType ExtensionType
	ExtensionData []byte
}

func (e *Extension) marshal(b *codec.Builder) {
	b.AddUint16(uint16(e.ExtensionType))
	b.AddOpaque(e.ExtensionData)
}

func (e *Extension) unmarshal(r *codec.Reader) {
	e.ExtensionType = ExtensionType(r.ReadUint16())
	e.ExtensionData = r.ReadOpaque()
}

// Extensions is a list of extensions, encoded as Extension extensions<V>.
// RFC 9420 section 13.4 forbids two extensions of the same type in one list;
// that rule is checked where the list is validated, not when it is decoded.
type Extensions []Extension

// Find returns the first extension of type t.
func (es Extensions) Find(t ExtensionType) (Extension, bool) {
	for _, e := range es {
		if e.ExtensionType == t {
			return e, true
		}
	}
	return Extension{}, false
}

func (es Extensions) marshal(b *codec.Builder) {
	marshalList(b, es)
}

func (es *Extensions) unmarshal(r *codec.Reader) {
	*es = unmarshalList[Extension](r)
}

// MarshalBinary returns the encoding of the list as Extension extensions<V>.
func (es Extensions) MarshalBinary() ([]byte, error) { return encode(es) }

// UnmarshalBinary decodes an Extension extensions<V> list from data.
func (es *Extensions) UnmarshalBinary(data []byte) error { return decode("Extensions", data, es) }

// ApplicationID is the content of the application_id extension: an
// application-defined identifier of a LeafNode's client (RFC 9420 section
// 5.3.3), encoded as opaque application_id<V>.
type ApplicationID []byte

func (a ApplicationID) marshal(b *codec.Builder) { b.AddOpaque(a) }

func (a *ApplicationID) unmarshal(r *codec.Reader) { *a = r.ReadOpaque() }

// MarshalBinary returns the encoding of a, the application_id extension data.
func (a ApplicationID) MarshalBinary() ([]byte, error) { return encode(a) }

// UnmarshalBinary decodes application_id extension data.
func (a *ApplicationID) UnmarshalBinary(data []byte) error {
	return decode("ApplicationID", data, a)
}

// RequiredCapabilities is the content of the required_capabilities
// extension (RFC 9420 section 11.1): what every member must support.
type RequiredCapabilities struct {
	ExtensionTypes  []ExtensionType
	ProposalTypes   []ProposalType
	CredentialTypes []CredentialType
}

func (rc *RequiredCapabilities) marshal(b *codec.Builder) {
	marshalUint16s(b, rc.ExtensionTypes)
	marshalUint16s(b, rc.ProposalTypes)
	marshalUint16s(b, rc.CredentialTypes)
}

func (rc *RequiredCapabilities) unmarshal(r *codec.Reader) {
	rc.ExtensionTypes = unmarshalUint16s[ExtensionType](r)
	rc.ProposalTypes = unmarshalUint16s[ProposalType](r)
	rc.CredentialTypes = unmarshalUint16s[CredentialType](r)
}

// MarshalBinary returns the encoding of rc, the required_capabilities
// extension data.
func (rc *RequiredCapabilities) MarshalBinary() ([]byte, error) { return encode(rc) }

// UnmarshalBinary decodes required_capabilities extension data.
func (rc *RequiredCapabilities) UnmarshalBinary(data []byte) error {
	return decode("RequiredCapabilities", data, rc)
}

// ExternalPub is the content of the external_pub extension of a GroupInfo
// (RFC 9420 section 12.4.3.2): the HPKE key to which external joiners
// encrypt their ExternalInit.
type ExternalPub struct {
	ExternalPub []byte
}

func (e *ExternalPub) marshal(b *codec.Builder) { b.AddOpaque(e.ExternalPub) }

func (e *ExternalPub) unmarshal(r *codec.Reader) { e.ExternalPub = r.ReadOpaque() }

// MarshalBinary returns the encoding of e, the external_pub extension data.
func (e *ExternalPub) MarshalBinary() ([]byte, error) { return encode(e) }

// UnmarshalBinary decodes external_pub extension data.
func (e *ExternalPub) UnmarshalBinary(data []byte) error { return decode("ExternalPub", data, e) }

// ExternalSender is a party outside the group allowed to send proposals
// (RFC 9420 section 12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

func (e *ExternalSender) marshal(b *codec.Builder) {
	b.AddOpaque(e.SignatureKey)
	e.Credential.marshal(b)
}

func (e *ExternalSender) unmarshal(r *codec.Reader) {
	e.SignatureKey = r.ReadOpaque()
	e.Credential.unmarshal(r)
}

// ExternalSenders is the content of the external_senders extension:
// ExternalSender external_senders<V>. A Sender of type external refers to
// an entry by its index.
type ExternalSenders []ExternalSender

func (es ExternalSenders) marshal(b *codec.Builder) {
	marshalList(b, es)
}

func (es *ExternalSenders) unmarshal(r *codec.Reader) {
	*es = unmarshalList[ExternalSender](r)
}

// MarshalBinary returns the encoding of es, the external_senders extension data.
func (es ExternalSenders) MarshalBinary() ([]byte, error) { return encode(es) }

// UnmarshalBinary decodes external_senders extension data.
func (es *ExternalSenders) UnmarshalBinary(data []byte) error {
	return decode("ExternalSenders", data, es)
}
