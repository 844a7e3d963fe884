package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// This file holds what parties outside a group send to it: external
// commits (RFC 9420 section 12.4.3.2), proposals of new members and of
// external senders (section 12.1.8).

// noLeaf is the leaf index of a client that has none yet: outside every
// tree.
const noLeaf = LeafIndex(maxLeaves)

// ExternalJoinOptions are the choices of a client joining by external
// commit.
type ExternalJoinOptions struct {
	// RatchetTree is the group's ratchet tree when the GroupInfo does not
	// carry it.
	RatchetTree TreeNodes
	// Resync removes the member whose credential equals the joiner's: the
	// joiner's old appearance, replaced by the new one (a "resync"
	// external commit).
	Resync bool
	// PSKs injects these pre-shared keys (by value, with fresh nonces when
	// PSKNonce is nil); Config.PSKs must know them.
	PSKs []PreSharedKeyID
	// Leaf is used to build the joiner's leaf, as in CreateOptions.
	Leaf *KeyPackageOptions
	// AuthenticatedData is sent with the commit.
	AuthenticatedData []byte
	// SelfRemoves are the SelfRemove proposals of the GroupInfo's epoch
	// that the Delivery Service handed out with it (draft-ietf-mls-
	// extensions, "SelfRemove Proposal"): PublicMessages, which the joiner
	// validates (all but the membership tag, which it cannot check) and
	// commits by reference, removing their senders.
	SelfRemoves []*MLSMessage
}

// JoinExternal joins a group by external commit (RFC 9420 section
// 12.4.3.2) from a GroupInfo with an external_pub extension, such as
// Group.GroupInfo returns. It validates the GroupInfo and the ratchet
// tree as a Welcome joiner does, then builds the commit: an ExternalInit
// whose KEM output gives the new epoch's init_secret, a Remove of the old
// appearance when resyncing, the PSKs, and a path from the leftmost free
// leaf. It returns the group, already in the new epoch, and the commit to
// send. If the Delivery Service rejects the commit (another commit of the
// epoch won), drop the group and join again from a newer GroupInfo.
func JoinExternal(groupInfo *MLSMessage, id *Identity, cfg *Config, opts *ExternalJoinOptions) (*Group, *MLSMessage, error) {
	if groupInfo == nil || groupInfo.WireFormat() != WireFormatGroupInfo {
		return nil, nil, errors.New("mls: JoinExternal needs a GroupInfo")
	}
	if opts == nil {
		opts = &ExternalJoinOptions{}
	}
	g, err := newGroup(id, cfg)
	if err != nil {
		return nil, nil, err
	}
	// The joiner has no leaf until the commit gives it one.
	g.self = noLeaf
	gi := groupInfo.GroupInfo
	gc := &gi.GroupContext
	if gc.CipherSuite != g.suite.ID() {
		return nil, nil, fmt.Errorf("mls: GroupInfo of suite %v for an identity of suite %v", gc.CipherSuite, g.suite.ID())
	}
	if gc.Version != ProtocolVersionMLS10 {
		return nil, nil, fmt.Errorf("mls: GroupInfo of version %v", gc.Version)
	}
	ext, ok := gi.Extensions.Find(ExtensionTypeExternalPub)
	if !ok {
		return nil, nil, errors.New("mls: GroupInfo without external_pub: the group does not allow external commits")
	}
	var pub ExternalPub
	if err := pub.UnmarshalBinary(ext.ExtensionData); err != nil {
		return nil, nil, err
	}
	tree, err := treeOf(gi, opts.RatchetTree)
	if err != nil {
		return nil, nil, err
	}
	if err := g.adoptTree(tree, gc, nil); err != nil {
		return nil, nil, err
	}
	if err := verifyGroupInfo(tree, gi); err != nil {
		return nil, nil, err
	}
	interim, err := InterimTranscriptHash(g.suite, gc.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	g.interim = interim
	if g.gcBytes, err = gc.MarshalBinary(); err != nil {
		return nil, nil, err
	}
	msg, err := g.externalCommit(pub.ExternalPub, opts)
	if err != nil {
		return nil, nil, err
	}
	return g, msg, nil
}

// verifyGroupInfo checks gi's signature with the leaf of its signer in t.
func verifyGroupInfo(t *RatchetTree, gi *GroupInfo) error {
	ln := t.Leaf(gi.Signer)
	if ln == nil {
		return fmt.Errorf("%w: GroupInfo signer %d", ErrBlankLeaf, gi.Signer)
	}
	tbs, err := gi.receivedTBS()
	if err != nil {
		return err
	}
	return verifyLabeled(t.Suite(), ln.SignatureKey, "GroupInfoTBS", tbs, gi.Signature)
}

// externalCommit builds and applies the external commit of a group set up
// from a GroupInfo (tree, GroupContext and interim transcript hash, no
// secrets).
func (g *Group) externalCommit(externalPub []byte, opts *ExternalJoinOptions) (*MLSMessage, error) {
	s := g.suite
	kemOutput, initSecret, err := s.ExportSecretSender(externalPub, nil, []byte(externalInitLabel), s.HashSize())
	if err != nil {
		return nil, err
	}
	defer clear(initSecret)
	sender := Sender{SenderType: SenderTypeNewMemberCommit}
	list := []committedProposal{{p: &Proposal{ExternalInit: &ExternalInitProposal{KEMOutput: kemOutput}}, sender: sender}}
	if opts.Resync {
		old, err := g.findCredential(&g.id.Credential)
		if err != nil {
			return nil, err
		}
		list = append(list, committedProposal{p: &Proposal{Remove: &RemoveProposal{Removed: old}}, sender: sender})
	}
	for _, id := range opts.PSKs {
		g.fillNonce(&id)
		list = append(list, committedProposal{p: &Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: id}}, sender: sender})
	}
	// A joiner has none of the epoch's secrets: it signs with the
	// GroupContext and sends a PublicMessage without membership tag.
	pc, err := NewProtectionContext(&g.gc, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	for i, m := range opts.SelfRemoves {
		c, err := g.externalSelfRemove(pc, m)
		if err != nil {
			return nil, fmt.Errorf("mls: SelfRemove %d: %w", i, err)
		}
		list = append(list, c)
	}
	if err := g.validateProposalList(list, sender); err != nil {
		return nil, err
	}
	for _, c := range list {
		if err := g.checkProposal(c.p, c.sender, true); err != nil {
			return nil, err
		}
	}
	prov, err := g.applyProposals(list)
	if err != nil {
		return nil, err
	}
	self, err := prov.tree.FreeLeaf()
	if err != nil {
		return nil, err
	}
	template, err := g.newLeaf(prov, self, opts.Leaf)
	if err != nil {
		return nil, err
	}
	path, err := prov.tree.GenerateUpdatePath(self, g.gc.GroupID, template, g.id.SigningKey)
	if err != nil {
		return nil, err
	}
	defer path.Wipe()
	provGC := g.provisionalContext(prov)
	provBytes, err := provGC.MarshalBinary()
	if err != nil {
		return nil, err
	}
	commit := &Commit{Proposals: make([]ProposalOrRef, len(list))}
	for i, c := range list {
		if c.ref != nil {
			commit.Proposals[i] = ProposalOrRef{Reference: c.ref}
		} else {
			commit.Proposals[i] = ProposalOrRef{Proposal: c.p}
		}
	}
	if commit.Path, err = path.Encrypt(provBytes, nil); err != nil {
		return nil, err
	}
	commitSecret := path.CommitSecret()
	defer clear(commitSecret)
	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: sender, AuthenticatedData: opts.AuthenticatedData, ContentType: ContentTypeCommit, Commit: commit}
	// Sign encodes the commit once, as in Group.Commit.
	ac, err := pc.Sign(g.id.SigningKey, WireFormatPublicMessage, content)
	if err != nil {
		return nil, err
	}
	next, err := g.nextEpoch(prov, provGC, ac, initSecret, commitSecret)
	if err != nil {
		return nil, err
	}
	ac.Auth.ConfirmationTag = next.tag
	m, err := pc.ProtectPublic(ac)
	if err != nil {
		next.erase()
		return nil, err
	}
	next.secrets.EraseJoinerSecrets()
	g.self = self
	g.tree = next.tree
	if err := g.installEpoch(&next.gc, next.gcBytes, next.secrets, next.interim, next.tag); err != nil {
		next.erase()
		return nil, err
	}
	return &MLSMessage{PublicMessage: m}, nil
}

// externalSelfRemove validates a SelfRemove proposal message for an
// external commit of a group set up from a GroupInfo, whose protection
// context pc holds no secret: a PublicMessage of the group's epoch from a
// member, signed by that member's leaf. The membership tag cannot be
// checked without the epoch's secrets, and is not (draft-ietf-mls-
// extensions, "SelfRemove Proposal").
func (g *Group) externalSelfRemove(pc *ProtectionContext, m *MLSMessage) (committedProposal, error) {
	if m == nil || m.PublicMessage == nil {
		return committedProposal{}, proposalErr(ruleSelfRemovePublic, "a SelfRemove not sent as a PublicMessage")
	}
	c := &m.PublicMessage.Content
	if c.ContentType != ContentTypeProposal || c.Proposal.SelfRemove == nil {
		return committedProposal{}, errors.New("mls: not a SelfRemove proposal")
	}
	if c.Sender.SenderType != SenderTypeMember {
		return committedProposal{}, proposalErr(ruleProposalSender, "a SelfRemove from a %v sender", c.Sender.SenderType)
	}
	ac, err := pc.unprotectPublic(m.PublicMessage, memberKeys(g.tree), false)
	if err != nil {
		return committedProposal{}, err
	}
	enc, err := ac.MarshalBinary()
	if err != nil {
		return committedProposal{}, err
	}
	return committedProposal{p: ac.Content.Proposal, sender: ac.Content.Sender, ref: g.suite.MakeProposalRef(enc)}, nil
}

// findCredential returns the leaf of the member whose credential equals c.
func (g *Group) findCredential(c *Credential) (LeafIndex, error) {
	want, err := c.MarshalBinary()
	if err != nil {
		return 0, err
	}
	for i := range g.tree.NumLeaves() {
		if ln := g.tree.Leaf(LeafIndex(i)); ln != nil {
			if enc, err := ln.Credential.MarshalBinary(); err == nil && bytes.Equal(enc, want) {
				return LeafIndex(i), nil
			}
		}
	}
	return 0, errors.New("mls: no member has this client's credential to resync")
}

// newLeaf returns the template of this client's leaf in a group it
// creates or joins by external commit, checked against the group at leaf
// index i of the provisional tree: fresh keys, the credential and the
// capabilities (see NewKeyPackage). The path replaces the keys.
func (g *Group) newLeaf(prov *provisional, i LeafIndex, opts *KeyPackageOptions) (*LeafNode, error) {
	opts = g.leafOptions(opts)
	kp, err := NewKeyPackage(g.id, opts)
	if err != nil {
		return nil, err
	}
	leaf := kp.KeyPackage.LeafNode
	if err := prov.tree.ValidateLeafNode(&leaf, LeafNodeSourceKeyPackage, g.gc.GroupID, i, g.leafOpts(prov.extensions, 0, nil, false)); err != nil {
		return nil, err
	}
	return &leaf, nil
}

// NewMemberProposal returns a proposal by which the owner of kp, whose
// identity is id, asks to be added to the group that groupInfo describes
// (sender type new_member_proposal, RFC 9420 section 12.1.8). It is sent
// as a PublicMessage; a member who commits it adds the client, which then
// joins by the Welcome as usual.
func NewMemberProposal(groupInfo *MLSMessage, id *Identity, kp *KeyPackage) (*MLSMessage, error) {
	if groupInfo == nil || groupInfo.WireFormat() != WireFormatGroupInfo {
		return nil, errors.New("mls: NewMemberProposal needs a GroupInfo")
	}
	if !bytes.Equal(id.SigningKey.PublicKey(), kp.LeafNode.SignatureKey) {
		return nil, errors.New("mls: the KeyPackage belongs to another identity")
	}
	gc := &groupInfo.GroupInfo.GroupContext
	return signExternal(gc.CipherSuite, gc.GroupID, gc.Epoch, Sender{SenderType: SenderTypeNewMemberProposal}, id.SigningKey,
		&Proposal{Add: &AddProposal{KeyPackage: *kp}}, nil)
}

// NewExternalProposal returns a proposal of the external sender at index
// senderIndex of the group's external_senders extension, signed with its
// key signer, for epoch of the group groupID (RFC 9420 section 12.1.8).
// Only Add, Remove, PreSharedKey, ReInit and GroupContextExtensions
// proposals may be sent so.
func NewExternalProposal(groupID []byte, epoch uint64, senderIndex uint32, signer *ciphersuite.SigningKey, p *Proposal, authenticatedData []byte) (*MLSMessage, error) {
	return signExternal(signer.Suite(), groupID, epoch, Sender{SenderType: SenderTypeExternal, SenderIndex: senderIndex}, signer, p, authenticatedData)
}

// signExternal signs a proposal of a sender outside the group and frames
// it as a PublicMessage.
func signExternal(suite ciphersuite.ID, groupID []byte, epoch uint64, sender Sender, signer *ciphersuite.SigningKey, p *Proposal, aad []byte) (*MLSMessage, error) {
	// The signature of these senders does not cover the GroupContext;
	// the context only carries the suite, group and epoch.
	pc, err := NewProtectionContext(&GroupContext{Version: ProtocolVersionMLS10, CipherSuite: suite, GroupID: groupID, Epoch: epoch}, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	content := &FramedContent{GroupID: groupID, Epoch: epoch, Sender: sender, AuthenticatedData: aad, ContentType: ContentTypeProposal, Proposal: p}
	ac, err := pc.Sign(signer, WireFormatPublicMessage, content)
	if err != nil {
		return nil, err
	}
	m, err := pc.ProtectPublic(ac)
	if err != nil {
		return nil, err
	}
	return &MLSMessage{PublicMessage: m}, nil
}
