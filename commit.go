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
//
// A decoded Commit, and the copy that ProtectionContext.Sign signs, keep
// the bytes their signature covers, and FramedContentTBS and the
// transcript hash take the commit from them; MarshalBinary encodes the
// fields. Sign encodes the fields afresh, so a changed commit is signed as
// it is sent; but a decoded commit changed in memory and then processed
// is checked against the bytes it was decoded from, not its fields: do
// not change a received commit.
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath

	// signed is the encoding of the commit that the sender signed: the
	// bytes it was decoded from, or those Sign encoded once. The
	// signature and the confirmed transcript hash cover these bytes (RFC
	// 9420 sections 6.1 and 8.2), which a sparse tree's UpdatePath makes
	// megabytes long, so they are hashed as they are rather than encoded
	// again. It does not follow later changes to the fields.
	signed []byte
}

func (c *Commit) marshal(b *codec.Builder) {
	// The fields are encoded afresh; the signed bytes only say how much
	// room that takes, so that a large commit grows the buffer once.
	b.Grow(len(c.signed))
	marshalList(b, c.Proposals)
	b.AddOptional(c.Path != nil, func(b *codec.Builder) { c.Path.marshal(b) })
}

func (c *Commit) unmarshal(r *codec.Reader) {
	// Decoded from one private copy of the input (the input itself if it
	// is private already), which holds the signed bytes and the
	// UpdatePath's ciphertexts (read shared). What follows a commit in a
	// message (the auth data, padding) is small.
	cr := r.CopyRest()
	rest := cr.Remaining()
	c.Proposals = unmarshalList[ProposalOrRef](cr)
	c.Path = nil
	if cr.ReadOptional() {
		c.Path = new(UpdatePath)
		c.Path.unmarshal(cr)
	}
	c.signed = nil
	if r.Err() == nil {
		n := len(rest) - cr.Len()
		c.signed = rest[:n:n]
		r.Skip(n)
	}
}

// encodeSigned encodes c once, into a buffer sized from its UpdatePath,
// as the bytes its signature and transcript hash will cover.
func (c *Commit) encodeSigned() error {
	size := 256 // the proposals vector and optional headers
	for _, p := range c.Proposals {
		size += 256
		if p.Proposal != nil && p.Proposal.Add != nil {
			size += len(p.Proposal.Add.KeyPackage.raw)
		}
	}
	if c.Path != nil {
		size += 1024 // the leaf node
		for i := range c.Path.Nodes {
			n := &c.Path.Nodes[i]
			size += len(n.EncryptionKey) + 8
			for j := range n.EncryptedPathSecret {
				size += len(n.EncryptedPathSecret[j].KEMOutput) + len(n.EncryptedPathSecret[j].Ciphertext) + 8
			}
		}
	}
	b := codec.NewBuilder(size)
	c.marshal(b)
	enc, err := b.Bytes()
	if err != nil {
		return err
	}
	c.signed = enc
	return nil
}

// MarshalBinary returns the encoding of c.
func (c *Commit) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalBinary decodes c from data, which must hold exactly one Commit.
func (c *Commit) UnmarshalBinary(data []byte) error { return decode("Commit", data, c) }
