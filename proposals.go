package mls

import (
	"errors"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// ProposalType identifies the kind of a Proposal (RFC 9420 section 12.1 and
// the "MLS Proposal Types" IANA registry). Values this package does not know
// are kept, so capabilities and unknown proposals round-trip.
type ProposalType uint16

// The proposal types of RFC 9420.
const (
	ProposalTypeAdd                    ProposalType = 1
	ProposalTypeUpdate                 ProposalType = 2
	ProposalTypeRemove                 ProposalType = 3
	ProposalTypePreSharedKey           ProposalType = 4
	ProposalTypeReInit                 ProposalType = 5
	ProposalTypeExternalInit           ProposalType = 6
	ProposalTypeGroupContextExtensions ProposalType = 7
)

// ProposalTypeSelfRemove is the SelfRemove proposal of
// draft-ietf-mls-extensions (section "SelfRemove Proposal", value 0x000a
// as the draft suggests): a member asks to be removed. Members list it in
// their capabilities, as every type RFC 9420 does not define.
const ProposalTypeSelfRemove ProposalType = 0x000a

// String returns the RFC 9420 name of t.
func (t ProposalType) String() string {
	if t == ProposalTypeSelfRemove {
		return "self_remove"
	}
	return enumName(t, "ProposalType", "add", "update", "remove", "psk", "reinit", "external_init", "group_context_extensions")
}

// Proposal is a proposed change to a group (RFC 9420 section 12.1). Exactly
// one field is set; its Type is derived from which. Proposals of a type this
// package does not know are kept in Unknown so that they round-trip.
type Proposal struct {
	Add                    *AddProposal
	Update                 *UpdateProposal
	Remove                 *RemoveProposal
	PreSharedKey           *PreSharedKeyProposal
	ReInit                 *ReInitProposal
	ExternalInit           *ExternalInitProposal
	GroupContextExtensions *GroupContextExtensionsProposal
	SelfRemove             *SelfRemoveProposal
	Unknown                *UnknownProposal
}

// Type returns the proposal_type of p, or 0 if p does not hold exactly one
// proposal (or holds an UnknownProposal whose type is 0 or a known one).
func (p *Proposal) Type() ProposalType {
	var t ProposalType
	n := 0
	set := func(present bool, pt ProposalType) {
		if present {
			t = pt
			n++
		}
	}
	set(p.Add != nil, ProposalTypeAdd)
	set(p.Update != nil, ProposalTypeUpdate)
	set(p.Remove != nil, ProposalTypeRemove)
	set(p.PreSharedKey != nil, ProposalTypePreSharedKey)
	set(p.ReInit != nil, ProposalTypeReInit)
	set(p.ExternalInit != nil, ProposalTypeExternalInit)
	set(p.GroupContextExtensions != nil, ProposalTypeGroupContextExtensions)
	set(p.SelfRemove != nil, ProposalTypeSelfRemove)
	if p.Unknown != nil {
		if p.Unknown.ProposalType == 0 || isKnownProposalType(p.Unknown.ProposalType) {
			return 0
		}
		set(true, p.Unknown.ProposalType)
	}
	if n != 1 {
		return 0
	}
	return t
}

func isKnownProposalType(t ProposalType) bool {
	return t >= ProposalTypeAdd && t <= ProposalTypeGroupContextExtensions || t == ProposalTypeSelfRemove
}

// body returns the proposal held by p, for encoding.
func (p *Proposal) body() marshaler {
	switch {
	case p.Add != nil:
		return p.Add
	case p.Update != nil:
		return p.Update
	case p.Remove != nil:
		return p.Remove
	case p.PreSharedKey != nil:
		return p.PreSharedKey
	case p.ReInit != nil:
		return p.ReInit
	case p.ExternalInit != nil:
		return p.ExternalInit
	case p.GroupContextExtensions != nil:
		return p.GroupContextExtensions
	case p.SelfRemove != nil:
		return p.SelfRemove
	}
	return p.Unknown
}

func (p *Proposal) marshal(b *codec.Builder) {
	t := p.Type()
	if t == 0 {
		b.SetError(errors.New("mls: Proposal must hold exactly one proposal of a distinct type"))
		return
	}
	b.AddUint16(uint16(t))
	p.body().marshal(b)
}

func (p *Proposal) unmarshal(r *codec.Reader) {
	*p = Proposal{}
	var body unmarshaler
	switch t := ProposalType(r.ReadUint16()); t {
	case ProposalTypeAdd:
		p.Add = new(AddProposal)
		body = p.Add
	case ProposalTypeUpdate:
		p.Update = new(UpdateProposal)
		body = p.Update
	case ProposalTypeRemove:
		p.Remove = new(RemoveProposal)
		body = p.Remove
	case ProposalTypePreSharedKey:
		p.PreSharedKey = new(PreSharedKeyProposal)
		body = p.PreSharedKey
	case ProposalTypeReInit:
		p.ReInit = new(ReInitProposal)
		body = p.ReInit
	case ProposalTypeExternalInit:
		p.ExternalInit = new(ExternalInitProposal)
		body = p.ExternalInit
	case ProposalTypeGroupContextExtensions:
		p.GroupContextExtensions = new(GroupContextExtensionsProposal)
		body = p.GroupContextExtensions
	case ProposalTypeSelfRemove:
		p.SelfRemove = new(SelfRemoveProposal)
		body = p.SelfRemove
	case 0:
		r.SetError(errors.New("reserved proposal_type 0"))
		return
	default:
		p.Unknown = &UnknownProposal{ProposalType: t}
		body = p.Unknown
	}
	body.unmarshal(r)
}

// MarshalBinary returns the encoding of p.
func (p *Proposal) MarshalBinary() ([]byte, error) { return encode(p) }

// UnmarshalBinary decodes p from data, which must hold exactly one Proposal.
func (p *Proposal) UnmarshalBinary(data []byte) error { return decode("Proposal", data, p) }

// AddProposal asks to add the client of KeyPackage to the group (RFC 9420
// section 12.1.1).
type AddProposal struct {
	KeyPackage KeyPackage
}

func (a *AddProposal) marshal(b *codec.Builder)  { a.KeyPackage.marshal(b) }
func (a *AddProposal) unmarshal(r *codec.Reader) { a.KeyPackage.unmarshal(r) }

// MarshalBinary returns the encoding of a (the Add struct, without proposal_type).
func (a *AddProposal) MarshalBinary() ([]byte, error) { return encode(a) }

// UnmarshalBinary decodes an Add struct from data.
func (a *AddProposal) UnmarshalBinary(data []byte) error { return decode("Add", data, a) }

// UpdateProposal replaces the sender's LeafNode (RFC 9420 section 12.1.2).
type UpdateProposal struct {
	LeafNode LeafNode
}

func (u *UpdateProposal) marshal(b *codec.Builder)  { u.LeafNode.marshal(b) }
func (u *UpdateProposal) unmarshal(r *codec.Reader) { u.LeafNode.unmarshal(r) }

// MarshalBinary returns the encoding of u (the Update struct, without proposal_type).
func (u *UpdateProposal) MarshalBinary() ([]byte, error) { return encode(u) }

// UnmarshalBinary decodes an Update struct from data.
func (u *UpdateProposal) UnmarshalBinary(data []byte) error { return decode("Update", data, u) }

// RemoveProposal asks to remove the member at leaf Removed (RFC 9420
// section 12.1.3).
type RemoveProposal struct {
	Removed LeafIndex
}

func (rm *RemoveProposal) marshal(b *codec.Builder)  { b.AddUint32(uint32(rm.Removed)) }
func (rm *RemoveProposal) unmarshal(r *codec.Reader) { rm.Removed = LeafIndex(r.ReadUint32()) }

// MarshalBinary returns the encoding of rm (the Remove struct, without proposal_type).
func (rm *RemoveProposal) MarshalBinary() ([]byte, error) { return encode(rm) }

// UnmarshalBinary decodes a Remove struct from data.
func (rm *RemoveProposal) UnmarshalBinary(data []byte) error { return decode("Remove", data, rm) }

// PreSharedKeyProposal asks to inject the pre-shared key PSK into the next
// epoch's key schedule (RFC 9420 section 12.1.4).
type PreSharedKeyProposal struct {
	PSK PreSharedKeyID
}

func (p *PreSharedKeyProposal) marshal(b *codec.Builder)  { p.PSK.marshal(b) }
func (p *PreSharedKeyProposal) unmarshal(r *codec.Reader) { p.PSK.unmarshal(r) }

// MarshalBinary returns the encoding of p (the PreSharedKey struct, without proposal_type).
func (p *PreSharedKeyProposal) MarshalBinary() ([]byte, error) { return encode(p) }

// UnmarshalBinary decodes a PreSharedKey struct from data.
func (p *PreSharedKeyProposal) UnmarshalBinary(data []byte) error {
	return decode("PreSharedKey", data, p)
}

// ReInitProposal asks to close the group and start a new one with the given
// parameters (RFC 9420 section 12.1.5).
type ReInitProposal struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite ciphersuite.ID
	Extensions  Extensions
}

func (ri *ReInitProposal) marshal(b *codec.Builder) {
	b.AddOpaque(ri.GroupID)
	b.AddUint16(uint16(ri.Version))
	b.AddUint16(uint16(ri.CipherSuite))
	ri.Extensions.marshal(b)
}

func (ri *ReInitProposal) unmarshal(r *codec.Reader) {
	ri.GroupID = r.ReadOpaque()
	ri.Version = ProtocolVersion(r.ReadUint16())
	ri.CipherSuite = ciphersuite.ID(r.ReadUint16())
	ri.Extensions.unmarshal(r)
}

// MarshalBinary returns the encoding of ri (the ReInit struct, without proposal_type).
func (ri *ReInitProposal) MarshalBinary() ([]byte, error) { return encode(ri) }

// UnmarshalBinary decodes a ReInit struct from data.
func (ri *ReInitProposal) UnmarshalBinary(data []byte) error { return decode("ReInit", data, ri) }

// ExternalInitProposal carries the KEM output from which an external joiner
// and the group derive the next init_secret (RFC 9420 section 12.1.6).
type ExternalInitProposal struct {
	KEMOutput []byte
}

func (e *ExternalInitProposal) marshal(b *codec.Builder)  { b.AddOpaque(e.KEMOutput) }
func (e *ExternalInitProposal) unmarshal(r *codec.Reader) { e.KEMOutput = r.ReadOpaque() }

// MarshalBinary returns the encoding of e (the ExternalInit struct, without proposal_type).
func (e *ExternalInitProposal) MarshalBinary() ([]byte, error) { return encode(e) }

// UnmarshalBinary decodes an ExternalInit struct from data.
func (e *ExternalInitProposal) UnmarshalBinary(data []byte) error {
	return decode("ExternalInit", data, e)
}

// GroupContextExtensionsProposal replaces the extensions of the
// GroupContext (RFC 9420 section 12.1.7).
type GroupContextExtensionsProposal struct {
	Extensions Extensions
}

func (g *GroupContextExtensionsProposal) marshal(b *codec.Builder)  { g.Extensions.marshal(b) }
func (g *GroupContextExtensionsProposal) unmarshal(r *codec.Reader) { g.Extensions.unmarshal(r) }

// MarshalBinary returns the encoding of g (the GroupContextExtensions
// struct, without proposal_type).
func (g *GroupContextExtensionsProposal) MarshalBinary() ([]byte, error) { return encode(g) }

// UnmarshalBinary decodes a GroupContextExtensions struct from data.
func (g *GroupContextExtensionsProposal) UnmarshalBinary(data []byte) error {
	return decode("GroupContextExtensions", data, g)
}

// SelfRemoveProposal is the SelfRemove proposal of draft-ietf-mls-extensions:
// the member that sends it asks to be removed. Its body is empty (struct
// {} SelfRemove): the leaf removed is the sender's.
type SelfRemoveProposal struct{}

func (*SelfRemoveProposal) marshal(*codec.Builder)  {}
func (*SelfRemoveProposal) unmarshal(*codec.Reader) {}

// UnknownProposal is a proposal of a type this package does not know.
// RFC 9420 gives such proposals no body; like other implementations, Arbor
// reads and writes it as one opaque<V>.
type UnknownProposal struct {
	ProposalType ProposalType
	Data         []byte
}

func (u *UnknownProposal) marshal(b *codec.Builder)  { b.AddOpaque(u.Data) }
func (u *UnknownProposal) unmarshal(r *codec.Reader) { u.Data = r.ReadOpaque() }
