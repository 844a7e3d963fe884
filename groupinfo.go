package mls

import "github.com/arbormls/mls/internal/codec"

// GroupInfo describes a group to a joiner (RFC 9420 section 12.4.3): its
// GroupContext, extensions for joiners (such as ratchet_tree and
// external_pub), the confirmation tag of the epoch, and the signature of
// the member at leaf Signer.
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      Extensions
	ConfirmationTag []byte
	Signer          LeafIndex
	Signature       []byte

	raw []byte
}

// Raw returns the encoding this GroupInfo was decoded from, or nil if it
// was built in memory. It does not follow later changes to the fields.
func (gi *GroupInfo) Raw() []byte { return gi.raw }

// marshalTBS writes the GroupInfoTBS fields: all but the signature.
func (gi *GroupInfo) marshalTBS(b *codec.Builder) {
	gi.GroupContext.marshal(b)
	gi.Extensions.marshal(b)
	b.AddOpaque(gi.ConfirmationTag)
	b.AddUint32(uint32(gi.Signer))
}

func (gi *GroupInfo) marshal(b *codec.Builder) {
	gi.marshalTBS(b)
	b.AddOpaque(gi.Signature)
}

func (gi *GroupInfo) unmarshal(r *codec.Reader) {
	*gi = GroupInfo{}
	gi.raw = captureRaw(r, func() {
		gi.GroupContext.unmarshal(r)
		gi.Extensions.unmarshal(r)
		gi.ConfirmationTag = r.ReadOpaque()
		gi.Signer = LeafIndex(r.ReadUint32())
		gi.Signature = r.ReadOpaque()
	})
}

// MarshalBinary returns the encoding of gi.
func (gi *GroupInfo) MarshalBinary() ([]byte, error) { return encode(gi) }

// UnmarshalBinary decodes gi from data, which must hold exactly one GroupInfo.
func (gi *GroupInfo) UnmarshalBinary(data []byte) error { return decode("GroupInfo", data, gi) }

// TBS returns the encoded GroupInfoTBS, the content that Signature signs
// with the label "GroupInfoTBS" (RFC 9420 section 12.4.3).
func (gi *GroupInfo) TBS() ([]byte, error) {
	b := codec.NewBuilder(256)
	gi.marshalTBS(b)
	return b.Bytes()
}
