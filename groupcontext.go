package mls

import (
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// GroupContext summarizes the state of a group in one epoch (RFC 9420
// section 8.1). Its encoding enters the key schedule and the signatures of
// members' messages.
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             ciphersuite.ID
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              Extensions
}

func (gc *GroupContext) marshal(b *codec.Builder) {
	b.AddUint16(uint16(gc.Version))
	b.AddUint16(uint16(gc.CipherSuite))
	b.AddOpaque(gc.GroupID)
	b.AddUint64(gc.Epoch)
	b.AddOpaque(gc.TreeHash)
	b.AddOpaque(gc.ConfirmedTranscriptHash)
	gc.Extensions.marshal(b)
}

func (gc *GroupContext) unmarshal(r *codec.Reader) {
	gc.Version = ProtocolVersion(r.ReadUint16())
	gc.CipherSuite = ciphersuite.ID(r.ReadUint16())
	gc.GroupID = r.ReadOpaque()
	gc.Epoch = r.ReadUint64()
	gc.TreeHash = r.ReadOpaque()
	gc.ConfirmedTranscriptHash = r.ReadOpaque()
	gc.Extensions.unmarshal(r)
}

// MarshalBinary returns the encoding of gc.
func (gc *GroupContext) MarshalBinary() ([]byte, error) { return encode(gc) }

// UnmarshalBinary decodes gc from data, which must hold exactly one GroupContext.
func (gc *GroupContext) UnmarshalBinary(data []byte) error {
	return decode("GroupContext", data, gc)
}
