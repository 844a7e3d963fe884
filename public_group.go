package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// ErrNotPublic reports a handshake message that a PublicGroup cannot read:
// a PrivateMessage, encrypted with keys only members hold.
var ErrNotPublic = errors.New("mls: a PublicGroup reads PublicMessage handshakes only")

// PublicGroup follows an MLS group from outside it, with no member
// secret, as a Delivery Service or an auditor can (RFC 9750 section 5;
// OpenMLS calls it PublicGroup, mls-rs ExternalGroup). It starts from a
// GroupInfo and its ratchet tree, checked as a joiner checks them, and
// moves from epoch to epoch through the group's PublicMessage proposals
// and commits, applying every rule of RFC 9420 sections 12.1 to 12.4 that
// needs no secret, through the same code a member (Group) runs:
//
//   - the signature of every message, against the sender's leaf in the
//     tracked tree, the external_senders extension, the KeyPackage of a
//     new member's Add or the leaf of an external commit's path;
//   - each proposal (section 12.1: KeyPackage validation with the
//     Config's credential validator, Update leaves, Removes of occupied
//     leaves, PSK nonces, extensions) and each committed list (section
//     12.2), proposals by reference resolved from the proposals seen;
//   - the UpdatePath: the committer's new leaf, the parent hashes, no
//     encryption key already in the tree, and one ciphertext per node of
//     each copath resolution (section 7.6);
//   - the new tree, its tree hash, the GroupContext of the new epoch and
//     the confirmed and interim transcript hashes (section 8.2), so that
//     the tracked GroupContext is exactly the members'.
//
// What it cannot check, because the key is a member secret (section
// 8): the membership_tag of a member's PublicMessage (membership_key,
// section 6.2), so a message signed by a member's key is taken as that
// member's even if a non-member replays it within the epoch; the
// confirmation_tag of a commit (confirmation_key), so a commit whose
// path secrets or PSKs members cannot use passes here and fails at the
// members; that the path's ciphertexts decrypt; whether the PSKs a
// commit injects exist; that an external commit's kem_output decapsulates; and that a GroupInfo's external_pub is the
// epoch's. PrivateMessage handshakes fail with ErrNotPublic: a group
// followed by a PublicGroup must send its handshakes as PublicMessages
// (Config.HandshakeWireFormat). In epoch 0 it lets resumption PSKs of
// usage reinit and branch through, not knowing whether the group resumes
// another.
//
// A PublicGroup is not safe for concurrent use. Its state (MarshalBinary,
// LoadPublicGroup) holds no secret.
type PublicGroup struct {
	groupCore
	// pc checks signatures against the current GroupContext; it holds
	// no key.
	pc *ProtectionContext
	// closed is set once a ReInit commit ended the group.
	closed bool
}

// PublicGroupOptions are what NewPublicGroup may need beyond the
// GroupInfo.
type PublicGroupOptions struct {
	// RatchetTree is the group's ratchet tree when the GroupInfo does not
	// carry it. It is checked against the tree hash like an inline one.
	RatchetTree TreeNodes
}

// NewPublicGroup starts following the group that groupInfo describes, in
// its epoch. It validates the GroupInfo and the ratchet tree as a joiner
// does (RFC 9420 section 12.4.3.1): the tree hash, every leaf (signature,
// credential with cfg's validator, capabilities against the group's
// extensions, lifetimes when cfg asks), parent hashes, unmerged leaves,
// unique keys, the external senders, and the GroupInfo's signature by its
// signer's leaf. cfg and opts may be nil.
func NewPublicGroup(groupInfo *MLSMessage, cfg *Config, opts *PublicGroupOptions) (*PublicGroup, error) {
	if groupInfo == nil || groupInfo.WireFormat() != WireFormatGroupInfo {
		return nil, errors.New("mls: NewPublicGroup needs a GroupInfo")
	}
	if opts == nil {
		opts = &PublicGroupOptions{}
	}
	gi := groupInfo.GroupInfo
	gc := &gi.GroupContext
	if gc.Version != ProtocolVersionMLS10 {
		return nil, fmt.Errorf("mls: GroupInfo of version %v", gc.Version)
	}
	p, err := newPublicGroup(gc.CipherSuite, cfg)
	if err != nil {
		return nil, err
	}
	if len(gi.ConfirmationTag) != p.suite.DigestSize() {
		return nil, fmt.Errorf("mls: GroupInfo confirmation tag of %d bytes", len(gi.ConfirmationTag))
	}
	tree, err := treeOf(gi, opts.RatchetTree)
	if err != nil {
		return nil, err
	}
	if err := p.adoptTree(tree, gc, nil); err != nil {
		return nil, err
	}
	if err := verifyGroupInfo(tree, gi); err != nil {
		return nil, err
	}
	interim, err := InterimTranscriptHash(p.suite, gc.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, err
	}
	gcBytes, err := gc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := p.install(tree, gc, gcBytes, interim, gi.ConfirmationTag); err != nil {
		return nil, err
	}
	p.tree.getCensus()
	return p, nil
}

// newPublicGroup returns an observer of a group of suite, without state.
func newPublicGroup(suite ciphersuite.ID, cfg *Config) (*PublicGroup, error) {
	c, err := cfg.resolvedChecked()
	if err != nil {
		return nil, err
	}
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		return nil, err
	}
	return &PublicGroup{groupCore: groupCore{cfg: c, suite: s, self: noLeaf, proposals: newProposalCache(), observer: true}}, nil
}

// install makes tree and gc (encoded as gcBytes) the current epoch.
func (p *PublicGroup) install(tree *RatchetTree, gc *GroupContext, gcBytes, interim, tag []byte) error {
	pc, err := NewProtectionContext(gc, nil, nil, nil)
	if err != nil {
		return err
	}
	p.tree, p.gc, p.gcBytes, p.pc = tree, *gc, gcBytes, pc
	p.interim, p.confirmationTag = interim, bytes.Clone(tag)
	p.proposals = newProposalCache()
	return nil
}

// Process handles one PublicMessage proposal or commit of the group's
// current epoch, as a member would (RFC 9420 sections 6.2 and 12): it
// checks the group, the epoch (ErrWrongEpoch) and the signature, then
// caches a valid proposal for the commits of the epoch, or applies a
// valid commit and moves to the next epoch; Received says which, and
// NewEpoch who joined and left. A PrivateMessage fails with ErrNotPublic,
// application data with ErrPublicApplication. A message that breaks a
// rule fails with the error a member would report (a *ValidationError
// naming the rule where there is one). On error the state is unchanged.
func (p *PublicGroup) Process(msg *MLSMessage) (*Received, error) {
	if msg == nil {
		return nil, errors.New("mls: nil message")
	}
	switch msg.WireFormat() {
	case WireFormatPublicMessage:
	case WireFormatPrivateMessage:
		return nil, ErrNotPublic
	default:
		return nil, fmt.Errorf("mls: PublicGroup.Process takes PublicMessages, not %v", msg.WireFormat())
	}
	m := msg.PublicMessage
	c := &m.Content
	if !bytes.Equal(c.GroupID, p.gc.GroupID) {
		return nil, ErrWrongGroup
	}
	if c.Epoch != p.gc.Epoch {
		return nil, fmt.Errorf("%w: message of epoch %d in epoch %d", ErrWrongEpoch, c.Epoch, p.gc.Epoch)
	}
	if c.ContentType == ContentTypeApplication {
		return nil, ErrPublicApplication
	}
	if p.closed {
		return nil, fmt.Errorf("%w: the group was closed by a ReInit", ErrGroupInactive)
	}
	ac, err := p.pc.unprotectPublic(m, memberKeys(p.tree), false)
	if err != nil {
		return nil, err
	}
	if c.ContentType == ContentTypeProposal {
		return p.receiveProposal(ac)
	}
	return p.processCommit(ac)
}

// processCommit applies a commit of the current epoch with every check
// of RFC 9420 section 12.4.2 that needs no secret.
func (p *PublicGroup) processCommit(ac *AuthenticatedContent) (*Received, error) {
	st, err := p.stageCommit(ac)
	if err != nil {
		return nil, err
	}
	prov, sender, tag := st.prov, ac.Content.Sender, ac.Auth.ConfirmationTag
	if len(tag) != p.suite.DigestSize() {
		return nil, fmt.Errorf("%w: confirmation tag of %d bytes", ErrBadConfirmationTag, len(tag))
	}
	if path := ac.Content.Commit.Path; path != nil {
		if err := p.mergePath(prov, sender, st.committerLeaf, path); err != nil {
			return nil, err
		}
		steps := prov.tree.filteredDirectPath(st.committerLeaf)
		if _, _, err := prov.tree.checkPathCiphertexts(steps, path, prov.addedLeaves(), ^NodeIndex(0)); err != nil {
			return nil, err
		}
	}
	gc, gcBytes, err := p.nextContext(p.provisionalContext(prov), ac)
	if err != nil {
		return nil, err
	}
	interim, err := InterimTranscriptHash(p.suite, gc.ConfirmedTranscriptHash, tag)
	if err != nil {
		return nil, err
	}
	if err := p.install(prov.tree, &gc, gcBytes, interim, tag); err != nil {
		return nil, err
	}
	st.received.NewEpoch = epochChange(prov, gc.Epoch, sender, st.committerLeaf)
	if prov.reinit != nil {
		p.closed = true
	}
	return st.received, nil
}

// VerifyGroupInfo checks that groupInfo describes the current epoch as
// this PublicGroup tracks it: the same GroupContext, byte for byte (so
// the same epoch, tree hash, transcript hash and extensions), the same
// confirmation tag, a signature by its signer's leaf in the tracked tree,
// and, when it carries a ratchet tree, the tracked tree. What
// external_pub holds cannot be checked without the epoch's secrets.
func (p *PublicGroup) VerifyGroupInfo(groupInfo *MLSMessage) error {
	if groupInfo == nil || groupInfo.WireFormat() != WireFormatGroupInfo {
		return errors.New("mls: VerifyGroupInfo needs a GroupInfo")
	}
	gi := groupInfo.GroupInfo
	gcBytes, err := gi.GroupContext.MarshalBinary()
	if err != nil {
		return err
	}
	if !bytes.Equal(gcBytes, p.gcBytes) {
		if gi.GroupContext.Epoch != p.gc.Epoch || !bytes.Equal(gi.GroupContext.GroupID, p.gc.GroupID) {
			return fmt.Errorf("mls: GroupInfo of epoch %d, the group is in epoch %d", gi.GroupContext.Epoch, p.gc.Epoch)
		}
		return errors.New("mls: GroupInfo's GroupContext is not the group's")
	}
	if !bytes.Equal(gi.ConfirmationTag, p.confirmationTag) {
		return errors.New("mls: GroupInfo's confirmation tag is not the epoch's")
	}
	if ext, ok := gi.Extensions.Find(ExtensionTypeRatchetTree); ok {
		// A tree's encoding is canonical (no trailing blank node, minimal
		// lengths), so the tracked tree has exactly one.
		own, err := p.tree.MarshalBinary()
		if err != nil {
			return err
		}
		if !bytes.Equal(ext.ExtensionData, own) {
			return ErrTreeHashMismatch
		}
	}
	return verifyGroupInfo(p.tree, gi)
}

// GroupID returns the group's ID.
func (p *PublicGroup) GroupID() []byte { return bytes.Clone(p.gc.GroupID) }

// Epoch returns the current epoch.
func (p *PublicGroup) Epoch() uint64 { return p.gc.Epoch }

// CipherSuite returns the group's cipher suite.
func (p *PublicGroup) CipherSuite() ciphersuite.ID { return p.suite.ID() }

// Active reports whether the group goes on: false once a ReInit commit
// closed it.
func (p *PublicGroup) Active() bool { return !p.closed }

// GroupContext returns a copy of the current GroupContext.
func (p *PublicGroup) GroupContext() GroupContext { return cloneGroupContext(&p.gc) }

// TreeHash returns the tree hash of the current ratchet tree.
func (p *PublicGroup) TreeHash() []byte { return bytes.Clone(p.gc.TreeHash) }

// ConfirmationTag returns the confirmation tag of the commit that started
// the current epoch, which the epoch's GroupInfo carries.
func (p *PublicGroup) ConfirmationTag() []byte { return bytes.Clone(p.confirmationTag) }

// RatchetTree returns the current ratchet tree in wire form; its
// MarshalBinary is what a joiner takes out of band. The nodes are shared
// with the PublicGroup: do not modify them.
func (p *PublicGroup) RatchetTree() TreeNodes { return p.tree.Nodes() }

// Members returns the members of the current epoch in leaf order.
func (p *PublicGroup) Members() []Member { return p.members() }

// Member returns the member at leaf, if that leaf is not blank.
func (p *PublicGroup) Member(leaf LeafIndex) (Member, bool) { return memberAt(p.tree, leaf) }

// PendingProposals returns the proposals received in the current epoch,
// in the order they were received: those the epoch's commit may include
// by reference.
func (p *PublicGroup) PendingProposals() []PendingProposal { return p.pendingProposals() }

// String describes the group.
func (p *PublicGroup) String() string {
	return fmt.Sprintf("mls.PublicGroup(%s, epoch %d, %d members)", p.suite.Name(), p.gc.Epoch, p.tree.NumMembers())
}
