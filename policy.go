package mls

import (
	"errors"
	"fmt"
)

// ErrRejectedByPolicy is wrapped by the *PolicyError of a proposal or
// commit that the application's Policy refused.
var ErrRejectedByPolicy = errors.New("mls: refused by the application's policy")

// PolicyError reports a proposal or commit, valid by the rules of MLS,
// that a hook of the application's Policy refused. It wraps both
// ErrRejectedByPolicy and the hook's own error.
type PolicyError struct {
	// Hook names the Policy hook that refused: "Proposal", "Commit" or
	// "SelectProposals".
	Hook string
	// Err is the error the hook returned.
	Err error
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("mls: refused by the application's policy (Policy.%s): %v", e.Hook, e.Err)
}

// Unwrap returns ErrRejectedByPolicy and the hook's error, so that
// errors.Is and errors.As find either.
func (e *PolicyError) Unwrap() []error { return []error{ErrRejectedByPolicy, e.Err} }

// Policy is the application's say over what its group accepts, beyond the
// rules of MLS: who may add whom, who may remove, which extensions may
// change. Every hook is optional. The hooks see the group in the epoch the
// message belongs to and must not change it (no Commit, Process or
// Propose from inside a hook); they may read it (Members, Extensions).
//
// A refusal is a *PolicyError, returned by Process or Commit, and leaves
// the group as it was before the message: the proposal is not cached, the
// commit is not applied. (A refused PrivateMessage has used its ratchet
// key, as any message that fails validation after decryption does; the
// same message cannot be processed again, later ones can.)
type Policy struct {
	// Proposal judges each proposal received from another member, an
	// external sender or a new member, once it passed every check of RFC
	// 9420 (section 12.1), before it is cached. An error refuses it.
	Proposal func(g *Group, p *ProposalInfo) error

	// Commit judges each commit received from another member or from a
	// new member joining by external commit, once it passed every check
	// of RFC 9420 section 12.4.2 (its proposals, its path and its
	// confirmation tag), before the group moves to the new epoch. It sees
	// every proposal the commit applies, including those by reference,
	// which Proposal already judged when they arrived. An error refuses
	// the commit.
	Commit func(g *Group, c *CommitInfo) error

	// SelectProposals chooses what this client's own commits (Group.Commit)
	// carry. It gets the proposals the commit would apply, those cached in
	// the epoch (by reference) followed by those of the CommitOptions (by
	// value), and returns the ones to commit: it may leave some out, and
	// add proposals by value (entries without Ref), which are checked as
	// this client's own. An entry with a Ref must be a proposal cached in
	// the epoch. The list returned must still be valid under RFC 9420
	// section 12.2. An error stops the commit.
	SelectProposals func(g *Group, proposals []ProposalInfo) ([]ProposalInfo, error)
}

// ProposalInfo is a proposal with who sent it, as a Policy sees it.
type ProposalInfo struct {
	Proposal *Proposal
	// Sender is who sent the proposal; for a proposal by value in a
	// commit, the committer.
	Sender Sender
	// Credential is the sender's credential: of its leaf for a member (as
	// in the epoch the proposal belongs to), of its external_senders entry
	// for an external sender, of the KeyPackage for a new member
	// proposing its own Add, of the new leaf for a new member committing.
	Credential *Credential
	// Ref is the proposal's reference; nil for a proposal sent by value in
	// a commit.
	Ref []byte
}

// CommitInfo is a commit as a Policy sees it.
type CommitInfo struct {
	// Committer is who sent the commit, and Credential its credential (of
	// its leaf before the commit for a member, of its new leaf for a new
	// member joining by external commit).
	Committer  Sender
	Credential *Credential
	// Proposals are the proposals the commit applies, in its order.
	Proposals []ProposalInfo
	// Change is what the commit would change.
	Change *EpochChange
	// AuthenticatedData is the commit message's authenticated_data.
	AuthenticatedData []byte
}

// senderCredential returns the credential of sender in the current epoch,
// for a Policy. p is the proposal sent (for a new member's Add) and path
// the commit's path (for a new member's commit); either may be nil.
func (g *Group) senderCredential(sender Sender, p *Proposal, path *UpdatePath) *Credential {
	switch sender.SenderType {
	case SenderTypeMember:
		if ln := g.tree.Leaf(sender.LeafIndex); ln != nil {
			return &ln.Credential
		}
	case SenderTypeExternal:
		ext, ok := g.gc.Extensions.Find(ExtensionTypeExternalSenders)
		if !ok {
			return nil
		}
		var senders ExternalSenders
		if err := senders.UnmarshalBinary(ext.ExtensionData); err != nil || uint64(sender.SenderIndex) >= uint64(len(senders)) {
			return nil
		}
		return &senders[sender.SenderIndex].Credential
	case SenderTypeNewMemberProposal:
		if p != nil && p.Add != nil {
			return &p.Add.KeyPackage.LeafNode.Credential
		}
	case SenderTypeNewMemberCommit:
		if path != nil {
			return &path.LeafNode.Credential
		}
	}
	return nil
}

// policyProposal runs the Policy's Proposal hook on a received proposal.
func (g *Group) policyProposal(p *Proposal, sender Sender, ref []byte) error {
	hook := g.cfg.Policy.Proposal
	if hook == nil {
		return nil
	}
	info := &ProposalInfo{Proposal: p, Sender: sender, Credential: g.senderCredential(sender, p, nil), Ref: ref}
	if err := hook(g, info); err != nil {
		return &PolicyError{Hook: "Proposal", Err: err}
	}
	return nil
}

// proposalInfos describes a commit's resolved list for a Policy.
func (g *Group) proposalInfos(list []committedProposal) []ProposalInfo {
	out := make([]ProposalInfo, len(list))
	for i, c := range list {
		out[i] = ProposalInfo{Proposal: c.p, Sender: c.sender, Credential: g.senderCredential(c.sender, c.p, nil), Ref: c.ref}
	}
	return out
}

// policyCommit runs the Policy's Commit hook on a received commit, fully
// validated, whose effect is change.
func (g *Group) policyCommit(content *FramedContent, list []committedProposal, change *EpochChange) error {
	hook := g.cfg.Policy.Commit
	if hook == nil {
		return nil
	}
	info := &CommitInfo{
		Committer:         content.Sender,
		Credential:        g.senderCredential(content.Sender, nil, content.Commit.Path),
		Proposals:         g.proposalInfos(list),
		Change:            change,
		AuthenticatedData: content.AuthenticatedData,
	}
	if err := hook(g, info); err != nil {
		return &PolicyError{Hook: "Commit", Err: err}
	}
	return nil
}

// policySelect runs the Policy's SelectProposals hook on the list of this
// client's commit, and returns the list to commit. byValue holds the
// proposals already checked as this client's own.
func (g *Group) policySelect(list []committedProposal) ([]committedProposal, error) {
	hook := g.cfg.Policy.SelectProposals
	if hook == nil {
		return list, nil
	}
	// By-value proposals the hook returns unchanged were checked already;
	// any other is checked now, compared by encoding so that one the hook
	// modified in place is checked too.
	checked := make(map[string]bool, len(list))
	for _, c := range list {
		if c.ref == nil {
			if enc, err := c.p.MarshalBinary(); err == nil {
				checked[string(enc)] = true
			}
		}
	}
	chosen, err := hook(g, g.proposalInfos(list))
	if err != nil {
		return nil, &PolicyError{Hook: "SelectProposals", Err: err}
	}
	self := g.ownSender()
	out := make([]committedProposal, 0, len(chosen))
	for i, info := range chosen {
		if info.Ref != nil {
			cp, ok := g.proposals.byRef[string(info.Ref)]
			if !ok {
				return nil, fmt.Errorf("mls: Policy.SelectProposals returned proposal %d with a reference to no cached proposal", i)
			}
			out = append(out, committedProposal{p: cp.proposal, sender: cp.sender, ref: cp.ref, updatePriv: cp.updatePriv})
			continue
		}
		p := info.Proposal
		if p == nil {
			return nil, fmt.Errorf("mls: Policy.SelectProposals returned proposal %d without a proposal", i)
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if !checked[string(enc)] {
			if p.Update != nil {
				return nil, errors.New("mls: a commit cannot carry the committer's Update; use CommitOptions.Update")
			}
			if err := g.checkProposal(p, self, true); err != nil {
				return nil, err
			}
		}
		out = append(out, committedProposal{p: p, sender: self})
	}
	return out, nil
}
