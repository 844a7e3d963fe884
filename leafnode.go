package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// LeafNodeSource says how a LeafNode was created (RFC 9420 section 7.2).
type LeafNodeSource uint8

// The leaf node sources of RFC 9420.
const (
	LeafNodeSourceKeyPackage LeafNodeSource = 1
	LeafNodeSourceUpdate     LeafNodeSource = 2
	LeafNodeSourceCommit     LeafNodeSource = 3
)

// String returns the RFC 9420 name of s.
func (s LeafNodeSource) String() string {
	return enumName(s, "LeafNodeSource", "key_package", "update", "commit")
}

// Capabilities lists what a client supports (RFC 9420 section 7.2).
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []ciphersuite.ID
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

func (c *Capabilities) marshal(b *codec.Builder) {
	marshalUint16s(b, c.Versions)
	marshalUint16s(b, c.CipherSuites)
	marshalUint16s(b, c.Extensions)
	marshalUint16s(b, c.Proposals)
	marshalUint16s(b, c.Credentials)
}

func (c *Capabilities) unmarshal(r *codec.Reader) {
	c.Versions = unmarshalUint16s[ProtocolVersion](r)
	c.CipherSuites = unmarshalUint16s[ciphersuite.ID](r)
	c.Extensions = unmarshalUint16s[ExtensionType](r)
	c.Proposals = unmarshalUint16s[ProposalType](r)
	c.Credentials = unmarshalUint16s[CredentialType](r)
}

// Lifetime is the validity period of a KeyPackage's LeafNode, in seconds
// since the Unix epoch, both ends included (RFC 9420 section 7.2).
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

func (l *Lifetime) marshal(b *codec.Builder) {
	b.AddUint64(l.NotBefore)
	b.AddUint64(l.NotAfter)
}

func (l *Lifetime) unmarshal(r *codec.Reader) {
	l.NotBefore = r.ReadUint64()
	l.NotAfter = r.ReadUint64()
}

// LeafNode describes one member (or, in a KeyPackage, a prospective member)
// and is signed by it (RFC 9420 section 7.2).
//
// Lifetime is set exactly when LeafNodeSource is key_package, ParentHash
// only when it is commit; encoding fails otherwise.
type LeafNode struct {
	EncryptionKey  []byte
	SignatureKey   []byte
	Credential     Credential
	Capabilities   Capabilities
	LeafNodeSource LeafNodeSource
	Lifetime       *Lifetime
	ParentHash     []byte
	Extensions     Extensions
	Signature      []byte

	raw []byte
}

// Raw returns the encoding this LeafNode was decoded from, or nil if it was
// built in memory. It does not follow later changes to the fields.
func (ln *LeafNode) Raw() []byte { return ln.raw }

// marshalTBSPrefix writes every field up to and including extensions: the
// part that LeafNode and LeafNodeTBS share.
func (ln *LeafNode) marshalTBSPrefix(b *codec.Builder) {
	b.AddOpaque(ln.EncryptionKey)
	b.AddOpaque(ln.SignatureKey)
	ln.Credential.marshal(b)
	ln.Capabilities.marshal(b)
	b.AddUint8(uint8(ln.LeafNodeSource))
	switch ln.LeafNodeSource {
	case LeafNodeSourceKeyPackage:
		if ln.Lifetime == nil {
			b.SetError(errors.New("mls: key_package LeafNode without lifetime"))
			return
		}
		if ln.ParentHash != nil {
			b.SetError(errors.New("mls: key_package LeafNode with parent_hash"))
		}
		ln.Lifetime.marshal(b)
	case LeafNodeSourceUpdate:
		if ln.Lifetime != nil || ln.ParentHash != nil {
			b.SetError(errors.New("mls: update LeafNode with lifetime or parent_hash"))
		}
	case LeafNodeSourceCommit:
		if ln.Lifetime != nil {
			b.SetError(errors.New("mls: commit LeafNode with lifetime"))
		}
		b.AddOpaque(ln.ParentHash)
	default:
		b.SetError(fmt.Errorf("mls: invalid leaf_node_source %d", uint8(ln.LeafNodeSource)))
	}
	ln.Extensions.marshal(b)
}

func (ln *LeafNode) marshal(b *codec.Builder) {
	ln.marshalTBSPrefix(b)
	b.AddOpaque(ln.Signature)
}

func (ln *LeafNode) unmarshal(r *codec.Reader) {
	*ln = LeafNode{}
	ln.raw = captureRaw(r, func() {
		ln.EncryptionKey = r.ReadOpaque()
		ln.SignatureKey = r.ReadOpaque()
		ln.Credential.unmarshal(r)
		ln.Capabilities.unmarshal(r)
		ln.LeafNodeSource = LeafNodeSource(r.ReadUint8())
		switch ln.LeafNodeSource {
		case LeafNodeSourceKeyPackage:
			ln.Lifetime = new(Lifetime)
			ln.Lifetime.unmarshal(r)
		case LeafNodeSourceUpdate:
		case LeafNodeSourceCommit:
			ln.ParentHash = r.ReadOpaque()
		default:
			r.SetError(fmt.Errorf("invalid leaf_node_source %d", uint8(ln.LeafNodeSource)))
			return
		}
		ln.Extensions.unmarshal(r)
		ln.Signature = r.ReadOpaque()
	})
}

// MarshalBinary returns the encoding of ln.
func (ln *LeafNode) MarshalBinary() ([]byte, error) { return encode(ln) }

// UnmarshalBinary decodes ln from data, which must hold exactly one LeafNode.
func (ln *LeafNode) UnmarshalBinary(data []byte) error { return decode("LeafNode", data, ln) }

// TBS returns the encoded LeafNodeTBS, the content that Signature signs
// with the label "LeafNodeTBS" (RFC 9420 section 7.2). For the update and
// commit sources it binds the leaf to a group and position, so groupID and
// leafIndex are included; for key_package they are ignored.
func (ln *LeafNode) TBS(groupID []byte, leafIndex LeafIndex) ([]byte, error) {
	b := codec.NewBuilder(256)
	ln.marshalTBSPrefix(b)
	switch ln.LeafNodeSource {
	case LeafNodeSourceUpdate, LeafNodeSourceCommit:
		b.AddOpaque(groupID)
		b.AddUint32(uint32(leafIndex))
	}
	return b.Bytes()
}
