package mls

import (
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// KeyPackage is a client's signed offer to be added to groups of one cipher
// suite (RFC 9420 section 10).
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite ciphersuite.ID
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  Extensions
	Signature   []byte

	raw []byte
}

// Raw returns the encoding this KeyPackage was decoded from, or nil if it
// was built in memory. It does not follow later changes to the fields.
// KeyPackageRef is computed over this encoding.
func (kp *KeyPackage) Raw() []byte { return kp.raw }

// marshalTBS writes the KeyPackageTBS fields: all but the signature.
func (kp *KeyPackage) marshalTBS(b *codec.Builder) {
	b.AddUint16(uint16(kp.Version))
	b.AddUint16(uint16(kp.CipherSuite))
	b.AddOpaque(kp.InitKey)
	kp.LeafNode.marshal(b)
	kp.Extensions.marshal(b)
}

func (kp *KeyPackage) marshal(b *codec.Builder) {
	kp.marshalTBS(b)
	b.AddOpaque(kp.Signature)
}

func (kp *KeyPackage) unmarshal(r *codec.Reader) {
	*kp = KeyPackage{}
	kp.raw = captureRaw(r, func() {
		kp.Version = ProtocolVersion(r.ReadUint16())
		kp.CipherSuite = ciphersuite.ID(r.ReadUint16())
		kp.InitKey = r.ReadOpaque()
		kp.LeafNode.unmarshal(r)
		kp.Extensions.unmarshal(r)
		kp.Signature = r.ReadOpaque()
	})
}

// MarshalBinary returns the encoding of kp.
func (kp *KeyPackage) MarshalBinary() ([]byte, error) { return encode(kp) }

// UnmarshalBinary decodes kp from data, which must hold exactly one KeyPackage.
func (kp *KeyPackage) UnmarshalBinary(data []byte) error { return decode("KeyPackage", data, kp) }

// TBS returns the encoded KeyPackageTBS, the content that Signature signs
// with the label "KeyPackageTBS" (RFC 9420 section 10).
func (kp *KeyPackage) TBS() ([]byte, error) {
	b := codec.NewBuilder(256)
	kp.marshalTBS(b)
	return b.Bytes()
}
