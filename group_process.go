package mls

import (
	"bytes"
	"errors"
	"fmt"
)

// externalInitLabel is the exporter context of the HPKE export from which
// an external commit derives init_secret (RFC 9420 section 8.3).
const externalInitLabel = "MLS 1.0 external init secret"

// MessageKind says what a processed message was.
type MessageKind uint8

// The kinds of message Process returns.
const (
	// KindApplication: application data, in Received.Data.
	KindApplication MessageKind = iota + 1
	// KindProposal: a proposal, validated and cached for the next commit.
	KindProposal
	// KindCommit: a commit, applied; Received.NewEpoch says what changed.
	KindCommit
)

// String returns the name of k.
func (k MessageKind) String() string {
	return enumName(k, "MessageKind", "application", "proposal", "commit")
}

// Received is what Process made of a message.
type Received struct {
	Kind MessageKind
	// Epoch is the epoch the message was sent in.
	Epoch uint64
	// Sender is who sent it, as framed.
	Sender Sender
	// Member is the sending member as it was in that epoch, when the
	// sender is a member; nil for external senders and new members.
	Member *Member
	// AuthenticatedData is the message's authenticated_data.
	AuthenticatedData []byte
	// Data is the application data (KindApplication).
	Data []byte
	// Proposal and ProposalRef are the proposal cached (KindProposal).
	Proposal    *Proposal
	ProposalRef []byte
	// NewEpoch is what the commit changed (KindCommit).
	NewEpoch *EpochChange
	// Own reports the echo of this client's own pending commit, which
	// Process merged, or of its own proposal, already cached.
	Own bool
}

// Process handles one message of the group, a PublicMessage or a
// PrivateMessage, and returns what it was (RFC 9420 sections 6, 12 and
// 14). It checks the group and the epoch (ErrWrongEpoch for other epochs,
// except application messages of the past epochs the Config keeps),
// unprotects the message, checks that its sender may send it, then:
// returns application data; validates and caches a proposal; or applies a
// commit in full (section 12.4.2) and moves to the new epoch. A commit or
// proposal of this client's own that comes back is recognized (and the
// commit merged); its own application messages fail with ErrOwnMessage. Processing
// another member's commit discards this client's pending commit, which
// lost. On error the group is unchanged.
func (g *Group) Process(msg *MLSMessage) (*Received, error) {
	if msg == nil {
		return nil, errors.New("mls: nil message")
	}
	if g.state == stateErased {
		return nil, g.checkActive()
	}
	var groupID []byte
	var epoch uint64
	var ct ContentType
	switch msg.WireFormat() {
	case WireFormatPublicMessage:
		c := &msg.PublicMessage.Content
		groupID, epoch, ct = c.GroupID, c.Epoch, c.ContentType
	case WireFormatPrivateMessage:
		m := msg.PrivateMessage
		groupID, epoch, ct = m.GroupID, m.Epoch, m.ContentType
	case WireFormatWelcome:
		return nil, errors.New("mls: a Welcome is processed by Join")
	default:
		return nil, fmt.Errorf("mls: Process takes PublicMessage or PrivateMessage, not %v", msg.WireFormat())
	}
	if !bytes.Equal(groupID, g.gc.GroupID) {
		return nil, ErrWrongGroup
	}
	if r, err := g.processEcho(msg, ct, epoch); r != nil || err != nil {
		return r, err
	}
	if epoch != g.gc.Epoch {
		if epoch < g.gc.Epoch && ct == ContentTypeApplication && msg.PrivateMessage != nil {
			for _, p := range g.past {
				if p.epoch == epoch {
					return g.processApplication(p.pc, p.tree, msg.PrivateMessage)
				}
			}
		}
		return nil, fmt.Errorf("%w: message of epoch %d in epoch %d", ErrWrongEpoch, epoch, g.gc.Epoch)
	}
	if ct == ContentTypeApplication {
		if msg.PrivateMessage == nil {
			return nil, ErrPublicApplication
		}
		return g.processApplication(g.pc, g.tree, msg.PrivateMessage)
	}
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	ac, err := g.unprotect(msg)
	if err != nil {
		return nil, err
	}
	if ct == ContentTypeProposal {
		return g.receiveProposal(ac)
	}
	return g.processCommit(ac)
}

// processEcho recognizes this client's own pending commit or cached
// proposal coming back from the Delivery Service: the commit is merged,
// the proposal reported again. It returns nil for any other message.
func (g *Group) processEcho(msg *MLSMessage, ct ContentType, epoch uint64) (*Received, error) {
	if epoch != g.gc.Epoch || ct == ContentTypeApplication || (ct == ContentTypeCommit && g.pending == nil) {
		return nil, nil
	}
	enc, err := msg.MarshalBinary()
	if err != nil {
		return nil, nil
	}
	r := &Received{Epoch: epoch, Sender: g.ownSender(), Member: g.memberPtr(g.tree, g.self), Own: true}
	if ct == ContentTypeCommit {
		if !bytes.Equal(enc, g.pending.commitBytes) {
			return nil, nil
		}
		if r.NewEpoch, err = g.MergePendingCommit(); err != nil {
			return nil, err
		}
		r.Kind = KindCommit
		return r, nil
	}
	p := g.proposals.ownEcho(enc)
	if p == nil {
		return nil, nil
	}
	r.Kind, r.Proposal, r.ProposalRef = KindProposal, p.proposal, bytes.Clone(p.ref)
	return r, nil
}

// unprotect unprotects a handshake message of the current epoch.
func (g *Group) unprotect(msg *MLSMessage) (*AuthenticatedContent, error) {
	keys := g.memberKeys(g.tree)
	if msg.PublicMessage != nil {
		return g.pc.UnprotectPublic(msg.PublicMessage, keys)
	}
	return g.pc.UnprotectPrivate(msg.PrivateMessage, keys)
}

// memberKeys returns the signature keys of the senders of tree t: the
// members but this client, whose own messages are not processed.
func (g *Group) memberKeys(t *RatchetTree) MemberKeyFunc {
	keys := memberKeys(t)
	return func(leaf LeafIndex) ([]byte, error) {
		if leaf == g.self {
			return nil, ErrOwnMessage
		}
		return keys(leaf)
	}
}

// memberPtr returns the member at leaf of t, or nil.
func (g *groupCore) memberPtr(t *RatchetTree, leaf LeafIndex) *Member {
	m, ok := memberAt(t, leaf)
	if !ok {
		return nil
	}
	return &m
}

// processApplication decrypts an application message with the protection
// context pc of its epoch, whose ratchet tree is t.
func (g *Group) processApplication(pc *ProtectionContext, t *RatchetTree, m *PrivateMessage) (*Received, error) {
	ac, err := pc.UnprotectPrivate(m, g.memberKeys(t))
	if err != nil {
		return nil, err
	}
	c := &ac.Content
	return &Received{
		Kind: KindApplication, Epoch: c.Epoch, Sender: c.Sender, Member: g.memberPtr(t, c.Sender.LeafIndex),
		AuthenticatedData: c.AuthenticatedData, Data: c.ApplicationData,
	}, nil
}

// receiveProposal validates and caches a proposal of the current epoch.
// A member's Policy sees it between the two (Group.receiveProposal).
func (g *groupCore) receiveProposal(ac *AuthenticatedContent) (*Received, error) {
	ref, err := g.checkReceivedProposal(ac)
	if err != nil {
		return nil, err
	}
	return g.cacheProposal(ac, ref), nil
}

// checkReceivedProposal validates a proposal of the current epoch and
// returns its reference.
func (g *groupCore) checkReceivedProposal(ac *AuthenticatedContent) ([]byte, error) {
	c := &ac.Content
	if c.Proposal.SelfRemove != nil && ac.WireFormat != WireFormatPublicMessage {
		// So that external joiners can read it (draft-ietf-mls-extensions).
		return nil, proposalErr(ruleSelfRemovePublic, "a SelfRemove not sent as a PublicMessage")
	}
	if err := g.checkProposal(c.Proposal, c.Sender, false); err != nil {
		return nil, err
	}
	enc, err := ac.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return g.suite.MakeProposalRef(enc), nil
}

// cacheProposal keeps a validated proposal for the commits of its epoch.
func (g *groupCore) cacheProposal(ac *AuthenticatedContent, ref []byte) *Received {
	c := &ac.Content
	g.proposals.add(&cachedProposal{ref: ref, proposal: c.Proposal, sender: c.Sender})
	r := &Received{Kind: KindProposal, Epoch: c.Epoch, Sender: c.Sender, AuthenticatedData: c.AuthenticatedData, Proposal: c.Proposal, ProposalRef: ref}
	if c.Sender.SenderType == SenderTypeMember {
		r.Member = g.memberPtr(g.tree, c.Sender.LeafIndex)
	}
	return r
}

// receiveProposal validates a proposal, asks the Policy, and caches it.
func (g *Group) receiveProposal(ac *AuthenticatedContent) (*Received, error) {
	ref, err := g.checkReceivedProposal(ac)
	if err != nil {
		return nil, err
	}
	if err := g.policyProposal(ac.Content.Proposal, ac.Content.Sender, ref); err != nil {
		return nil, err
	}
	return g.cacheProposal(ac, ref), nil
}

// resolveProposals returns the proposals of commit c from committer: those
// by value (not checked yet), and those by reference from the cache. An
// unknown reference makes the commit invalid (RFC 9420 erratum 8815).
func (g *groupCore) resolveProposals(c *Commit, committer Sender) ([]committedProposal, error) {
	list := make([]committedProposal, len(c.Proposals))
	for i, por := range c.Proposals {
		if por.Proposal != nil {
			list[i] = committedProposal{p: por.Proposal, sender: committer}
			continue
		}
		cp, ok := g.proposals.byRef[string(por.Reference)]
		if committer.SenderType != SenderTypeMember && (!ok || cp.proposal.SelfRemove == nil) {
			// Only SelfRemoves go by reference in an external commit
			// (draft-ietf-mls-extensions).
			return nil, commitErr(ruleExternalCommit, "external commit with a proposal by reference other than a SelfRemove received")
		}
		if !ok {
			return nil, commitErr(ruleUnknownProposalRef, "proposal %d of the commit is a reference to no proposal received in the epoch", i)
		}
		list[i] = committedProposal{p: cp.proposal, sender: cp.sender, ref: cp.ref, updatePriv: cp.updatePriv, newID: cp.newID}
	}
	return list, nil
}

// stagedCommit is a commit of the current epoch that passed every rule
// of RFC 9420 section 12.4.2 checked before its path is merged: its
// proposals, validated and applied to a provisional state.
type stagedCommit struct {
	prov          *provisional
	external      bool
	committerLeaf LeafIndex
	received      *Received
	// list is the commit's resolved proposals, for a member's Policy.
	list []committedProposal
}

// stageCommit checks the commit ac of the current epoch up to its path
// (RFC 9420 section 12.4.2): the sender, the proposals (resolved,
// validated as a list and one by one, applied to a copy of the tree in
// the order of section 12.3), and that a path is present where one is
// required. Members and observers both start here.
func (g *groupCore) stageCommit(ac *AuthenticatedContent) (*stagedCommit, error) {
	content := &ac.Content
	commit := content.Commit
	sender := content.Sender
	external := sender.SenderType == SenderTypeNewMemberCommit
	if !external && sender.SenderType != SenderTypeMember {
		return nil, commitErr(ruleCommitSender, "commit from a %v sender", sender.SenderType)
	}
	list, err := g.resolveProposals(commit, sender)
	if err != nil {
		return nil, err
	}
	if err := g.validateProposalList(list, sender); err != nil {
		return nil, err
	}
	// Proposals by reference were checked when they were received.
	for _, c := range list {
		if c.ref == nil {
			if err := g.checkProposal(c.p, sender, false); err != nil {
				return nil, err
			}
		}
	}
	prov, err := g.applyProposals(list)
	if err != nil {
		return nil, err
	}
	if (external || pathRequired(list)) && commit.Path == nil {
		erasePrivateKeys(prov.tree, g.tree)
		return nil, commitErr(rulePathRequired, "commit without the path its proposals require")
	}
	committerLeaf := sender.LeafIndex
	if external {
		if committerLeaf, err = prov.tree.FreeLeaf(); err != nil {
			erasePrivateKeys(prov.tree, g.tree)
			return nil, err
		}
	}
	received := &Received{Kind: KindCommit, Epoch: content.Epoch, Sender: sender, AuthenticatedData: content.AuthenticatedData}
	if !external {
		received.Member = g.memberPtr(g.tree, sender.LeafIndex)
	}
	return &stagedCommit{prov: prov, external: external, committerLeaf: committerLeaf, received: received, list: list}, nil
}

// processCommit applies a commit of the current epoch (RFC 9420 section
// 12.4.2) and, if every check passes, moves to the new epoch.
func (g *Group) processCommit(ac *AuthenticatedContent) (*Received, error) {
	st, err := g.stageCommit(ac)
	if err != nil {
		return nil, err
	}
	prov, external, committerLeaf, received, list := st.prov, st.external, st.committerLeaf, st.received, st.list
	content := &ac.Content
	commit, sender := content.Commit, content.Sender
	merged := false
	defer func() {
		if !merged {
			erasePrivateKeys(prov.tree, g.tree)
		}
	}()
	if prov.selfRemoved {
		// The commit removes this client, which cannot decrypt the new
		// epoch: the group ends here for it (section 12.4.2).
		received.NewEpoch = epochChange(prov, g.gc.Epoch+1, sender, committerLeaf)
		if err := g.policyCommit(content, list, received.NewEpoch); err != nil {
			return nil, err
		}
		g.discardPending()
		g.state = stateRemoved
		return received, nil
	}
	var commitSecret []byte
	if path := commit.Path; path != nil {
		if err := g.mergePath(prov, sender, committerLeaf, path); err != nil {
			return nil, err
		}
	}
	provGC := g.provisionalContext(prov)
	if path := commit.Path; path != nil {
		provBytes, err := provGC.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if commitSecret, err = prov.tree.DecryptUpdatePath(committerLeaf, path, provBytes, prov.addedLeaves()); err != nil {
			return nil, err
		}
		defer clear(commitSecret)
	}
	initSecret := g.secrets.InitSecret()
	if external {
		if initSecret, err = g.externalInitSecret(prov.externalInit); err != nil {
			return nil, err
		}
		defer clear(initSecret)
	}
	next, err := g.nextEpoch(prov, provGC, ac, initSecret, commitSecret)
	if err != nil {
		return nil, err
	}
	if err := VerifyConfirmationTag(g.suite, next.secrets.ConfirmationKey(), next.gc.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag); err != nil {
		next.erase()
		return nil, err
	}
	next.secrets.EraseJoinerSecrets()
	received.NewEpoch = epochChange(prov, next.gc.Epoch, sender, committerLeaf)
	if err := g.policyCommit(content, list, received.NewEpoch); err != nil {
		next.erase()
		return nil, err
	}
	g.discardPending()
	if err := g.advance(next.tree, &next.gc, next.gcBytes, next.secrets, next.interim, next.tag); err != nil {
		return nil, err
	}
	merged = true
	if prov.newID != nil {
		// This client's Update with a new identity was applied.
		g.id = prov.newID
	}
	if prov.reinit != nil {
		g.state, g.reinit = stateReInit, prov.reinit
	}
	return received, nil
}

// mergePath validates the commit's path leaf and merges the path into the
// provisional tree (RFC 9420 section 12.4.2). The leaf's credential is
// checked as an update of the committer's previous leaf, or, for an
// external commit, as a new member or as the successor of the member its
// Remove replaces (section 12.2).
func (g *groupCore) mergePath(prov *provisional, sender Sender, committerLeaf LeafIndex, path *UpdatePath) error {
	event, prev := CredentialEventUpdate, (*Credential)(nil)
	switch {
	case sender.SenderType == SenderTypeMember:
		prev = &g.tree.Leaf(committerLeaf).Credential
	case len(prov.removed) > prov.selfRemoves:
		// The member the Remove removes (after those of SelfRemoves).
		prev = &prov.removed[prov.selfRemoves].Credential
	default:
		event = CredentialEventKeyPackage
	}
	return prov.tree.MergeUpdatePath(committerLeaf, path, g.gc.GroupID, g.leafOpts(prov.extensions, event, prev, true))
}

// externalInitSecret derives the init_secret of an external commit from
// its ExternalInit with the group's external private key (RFC 9420
// section 8.3).
func (g *Group) externalInitSecret(ei *ExternalInitProposal) ([]byte, error) {
	priv, _, err := g.secrets.ExternalKeyPair()
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	return g.suite.ExportSecretReceiver(priv, ei.KEMOutput, nil, []byte(externalInitLabel), g.suite.HashSize())
}

// discardPending drops this client's pending commit, if any.
func (g *Group) discardPending() {
	if g.pending != nil {
		g.pending.next.erase()
		erasePrivateKeys(g.pending.next.tree, g.tree)
		g.pending = nil
	}
}

// Send encrypts application data for the group as a PrivateMessage (RFC
// 9420 section 6.3), always encrypted whatever the handshake policy. It
// fails with ErrUncommittedProposals while proposals are cached in the
// epoch: a member must commit them first (section 12.4), so that, for
// example, a member whose removal was proposed does not receive it.
func (g *Group) Send(data []byte) (*MLSMessage, error) {
	return g.SendWithAuthenticatedData(data, nil)
}

// SendWithAuthenticatedData is Send with authenticated_data that travels
// in the clear but is authenticated.
func (g *Group) SendWithAuthenticatedData(data, aad []byte) (*MLSMessage, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	if len(g.proposals.list) > 0 {
		return nil, ErrUncommittedProposals
	}
	if data == nil {
		data = []byte{}
	}
	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: g.ownSender(), AuthenticatedData: aad, ContentType: ContentTypeApplication, ApplicationData: data}
	ac, err := g.pc.Sign(g.id.SigningKey, WireFormatPrivateMessage, content)
	if err != nil {
		return nil, err
	}
	return g.protect(ac)
}
