package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// The ProposalOrRefType values of RFC 9420 section 12.4.
const (
	proposalOrRefProposal  uint8 = 1
	proposalOrRefReference uint8 = 2
)

// ProposalOrRef is one entry of a Commit's proposal list: either a proposal
// sent in the Commit itself or the ProposalRef of one sent earlier in the
// epoch (RFC 9420 section 12.4). Exactly one of Proposal and Reference is
// set; a decoded reference is never nil, even when empty.
type ProposalOrRef struct {
	Proposal  *Proposal
	Reference []byte
}

func (p *ProposalOrRef) marshal(b *codec.Builder) {
	switch {
	case p.Proposal != nil && p.Reference == nil:
		b.AddUint8(proposalOrRefProposal)
		p.Proposal.marshal(b)
	case p.Reference != nil && p.Proposal == nil:
		b.AddUint8(proposalOrRefReference)
		b.AddOpaque(p.Reference)
	default:
		b.SetError(errors.New("mls: ProposalOrRef must hold exactly one of a proposal and a reference"))
	}
}

func (p *ProposalOrRef) unmarshal(r *codec.Reader) {
	*p = ProposalOrRef{}
	switch t := r.ReadUint8(); t {
	case proposalOrRefProposal:
		p.Proposal = new(Proposal)
		p.Proposal.unmarshal(r)
	case proposalOrRefReference:
		p.Reference = r.ReadOpaque()
	default:
		r.SetError(fmt.Errorf("invalid ProposalOrRefType %d", t))
	}
}

// Commit applies a list of proposals and, with Path, refreshes the
// committer's direct path (RFC 9420 section 12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) marshal(b *codec.Builder) {
	marshalList(b, c.Proposals)
	b.AddOptional(c.Path != nil, func(b *codec.Builder) { c.Path.marshal(b) })
}

func (c *Commit) unmarshal(r *codec.Reader) {
	c.Proposals = unmarshalList[ProposalOrRef](r)
	c.Path = nil
	if r.ReadOptional() {
		c.Path = new(UpdatePath)
		c.Path.unmarshal(r)
	}
}

// MarshalBinary returns the encoding of c.
func (c *Commit) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalBinary decodes c from data, which must hold exactly one Commit.
func (c *Commit) UnmarshalBinary(data []byte) error { return decode("Commit", data, c) }
