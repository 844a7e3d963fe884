package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// Errors of the Group state machine, for callers that branch on them.
var (
	// ErrGroupInactive reports an operation on a group this client was
	// removed from, or that a ReInit commit closed (RFC 9420 sections
	// 12.4.2 and 11.2).
	ErrGroupInactive = errors.New("mls: group is no longer active")
	// ErrPendingCommit reports an attempt to send a handshake message or
	// commit while a commit of this client awaits MergePendingCommit or
	// DiscardPendingCommit.
	ErrPendingCommit = errors.New("mls: a commit is pending")
	// ErrNoPendingCommit reports MergePendingCommit or DiscardPendingCommit
	// without a pending commit.
	ErrNoPendingCommit = errors.New("mls: no pending commit")
	// ErrNotMember reports a message whose sender is not a member of the
	// group in the epoch it was sent in (a blank or out-of-range leaf).
	ErrNotMember = errors.New("mls: sender is not a member")
	// ErrUncommittedProposals reports an application message that this
	// client may not send before it commits (or discards) the proposals
	// received in the epoch (RFC 9420 section 12.4).
	ErrUncommittedProposals = errors.New("mls: proposals of the epoch must be committed before sending application data")
	// ErrOwnMessage reports a message this client sent itself, other than
	// the echo of its pending commit: its keys are already consumed.
	ErrOwnMessage = errors.New("mls: message sent by this client")
)

// groupState is where a group is in its life.
type groupState uint8

const (
	stateActive  groupState = iota
	stateRemoved            // a commit removed this client
	stateReInit             // a commit with a ReInit closed the group
	stateErased             // Erase zeroed the group's secrets; never saved
)

// Group is one client's state of an MLS group (RFC 9420 sections 8 to 14):
// the ratchet tree with this client's private keys, the GroupContext, the
// key schedule and secret tree of the current epoch and of a few past
// ones, the transcript hash, the proposals received in the epoch and the
// client's own pending commit.
//
// A Group is created with CreateGroup, Join or JoinExternal. Every incoming
// message goes through Process. Commit returns the messages to send and a
// pending state that takes effect with MergePendingCommit, once the
// Delivery Service has accepted the commit. A Group is not safe for
// concurrent use.
type Group struct {
	groupCore
	id    *Identity
	state groupState

	secrets *EpochSecrets
	pc      *ProtectionContext

	pending *PendingCommit
	past    []*pastEpoch // oldest first, at most cfg.MaxPastEpochs
	// reinit is the ReInit proposal of the commit that closed the group.
	reinit *ReInitProposal
	// exporter is the current epoch's exporter tree (SafeExport); nil in
	// an epoch restored from a version 1 state.
	exporter *exporterTree
	// saved is what Save last wrote to a GroupRecordStore.
	saved *savedRecords
}

// groupCore is the public state of a group, which a member (Group) and
// an observer (PublicGroup) both keep, and the owner of every rule of RFC
// 9420 sections 12.1 to 12.4 that needs no secret: both apply each rule
// through the same method.
type groupCore struct {
	cfg   Config
	suite *ciphersuite.Suite
	// self is the member's own leaf; noLeaf for an observer, and for an
	// external joiner until its commit gives it one.
	self LeafIndex

	tree    *RatchetTree
	gc      GroupContext
	gcBytes []byte
	interim []byte
	// confirmationTag is the tag of the commit that started the epoch (or
	// of the group's creation), which GroupInfo carries.
	confirmationTag []byte

	proposals *proposalCache
	// resumeFrom is the group that a group being created by ReInit or
	// Branch resumes, with the usage of its resumption PSK, allowed in
	// the first commit only (RFC 9420 section 12.1.4).
	resumeFrom  *Group
	resumeUsage ResumptionPSKUsage
	// observer marks a PublicGroup, which cannot know whether its group
	// resumes another: it lets resumption PSKs of usage reinit and branch
	// through in epoch 0, where a member of a resumed group accepts them.
	observer bool
}

// pastEpoch is what a group keeps of an epoch that ended, for
// application messages that arrive late: the protection context with the
// epoch's secret tree, the public ratchet tree to find senders' keys, and
// the resumption PSK.
type pastEpoch struct {
	epoch         uint64
	pc            *ProtectionContext
	tree          *RatchetTree
	resumptionPSK []byte
}

// Member is one member of a group: its leaf and what it presents there.
type Member struct {
	Leaf         LeafIndex
	Credential   Credential
	SignatureKey []byte
	// LeafNode is the member's leaf, for its capabilities, extensions and
	// keys. It is shared with the group and must not be modified.
	LeafNode *LeafNode
}

// CreateOptions are the choices of a group's creator beyond its Config.
type CreateOptions struct {
	// GroupID is the group's ID; nil means 32 random bytes.
	GroupID []byte
	// Extensions are the GroupContext extensions of epoch 0, such as
	// required_capabilities, external_senders or custom ones. The
	// creator's leaf must support them.
	Extensions Extensions
	// Leaf is used to build the creator's leaf: its capabilities, leaf
	// extensions (such as application_id) and lifetime. Nil means the
	// defaults of NewKeyPackage.
	Leaf *KeyPackageOptions
}

// CreateGroup creates a group whose only member is id, in epoch 0 (RFC
// 9420 section 11): a one-leaf ratchet tree holding a fresh leaf of id,
// an empty confirmed transcript hash, and the key schedule started from a
// fresh random secret. cfg and opts may be nil. The group's cipher suite
// is the suite of id's signing key.
func CreateGroup(id *Identity, cfg *Config, opts *CreateOptions) (*Group, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	g, err := newGroup(id, cfg)
	if err != nil {
		return nil, err
	}
	s := g.suite
	kpOpts := g.leafOptions(opts.Leaf)
	// A KeyPackage's leaf is exactly what the creator's leaf needs: fresh
	// keys, the credential, capabilities and a lifetime, signed.
	kp, err := NewKeyPackage(id, kpOpts)
	if err != nil {
		return nil, err
	}
	groupID := opts.GroupID
	if groupID == nil {
		groupID = make([]byte, 32)
		rand.Read(groupID)
	}
	leaf := kp.KeyPackage.LeafNode
	tree, err := NewRatchetTree(s, &leaf)
	if err != nil {
		return nil, err
	}
	if err := tree.SetLeafPrivateKey(0, kp.EncryptionPrivateKey()); err != nil {
		return nil, err
	}
	exts := slices.Clone(opts.Extensions)
	if err := checkGroupExtensions(exts); err != nil {
		return nil, err
	}
	if err := checkSendable("GroupContext extensions", extensionTypes(exts)...); err != nil {
		return nil, err
	}
	if err := tree.ValidateLeafNode(&leaf, LeafNodeSourceKeyPackage, groupID, 0, g.leafOpts(exts, 0, nil, false)); err != nil {
		return nil, err
	}
	g.tree = tree
	g.gc = GroupContext{
		Version:                 ProtocolVersionMLS10,
		CipherSuite:             s.ID(),
		GroupID:                 bytes.Clone(groupID),
		Epoch:                   0,
		TreeHash:                tree.TreeHash(),
		ConfirmedTranscriptHash: []byte{},
		Extensions:              exts,
	}
	if err := g.checkExternalSenders(exts, nil); err != nil {
		return nil, err
	}
	gcBytes, err := g.gc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	// A random joiner_secret gives a random epoch_secret: the key
	// schedule of epoch 0 starts from fresh randomness (section 11).
	joiner := make([]byte, s.HashSize())
	rand.Read(joiner)
	secrets, err := DeriveEpochSecretsFromJoiner(s, joiner, nil, gcBytes)
	clear(joiner)
	if err != nil {
		return nil, err
	}
	secrets.EraseJoinerSecrets()
	tag := ConfirmationTag(s, secrets.ConfirmationKey(), g.gc.ConfirmedTranscriptHash)
	interim, err := InterimTranscriptHash(s, g.gc.ConfirmedTranscriptHash, tag)
	if err != nil {
		secrets.Erase()
		return nil, err
	}
	if err := g.installEpoch(&g.gc, gcBytes, secrets, interim, tag); err != nil {
		return nil, err
	}
	return g, nil
}

// newGroup returns a group of id with the policy cfg, without any state.
func newGroup(id *Identity, cfg *Config) (*Group, error) {
	c, err := cfg.resolvedChecked()
	if err != nil {
		return nil, err
	}
	s, err := id.suite()
	if err != nil {
		return nil, err
	}
	return &Group{groupCore: groupCore{cfg: c, suite: s, proposals: newProposalCache()}, id: id}, nil
}

// resolvedChecked is resolved with the checks a Config's values need.
func (c *Config) resolvedChecked() (Config, error) {
	r := c.resolved()
	if r.PaddingBlock > maxPadBlock {
		return Config{}, fmt.Errorf("mls: padding block size %d larger than %d", r.PaddingBlock, maxPadBlock)
	}
	return r, nil
}

// nonNil returns exts, or an empty list for nil: LeafValidationOptions
// takes nil to mean "do not check the group's extensions".
func nonNil(exts Extensions) Extensions {
	if exts == nil {
		return Extensions{}
	}
	return exts
}

// installEpoch makes gc (encoded as gcBytes) with secrets the current
// epoch: builds its secret tree and protection context. The caller has
// already set g.tree. secrets' encryption secret is consumed.
func (g *Group) installEpoch(gc *GroupContext, gcBytes []byte, secrets *EpochSecrets, interim, tag []byte) error {
	stree, err := NewSecretTree(g.suite, secrets.EncryptionSecret(), g.tree.NumLeaves(), g.cfg.SecretTree)
	if err != nil {
		return err
	}
	secrets.EraseEncryptionSecret()
	pc, err := NewProtectionContext(gc, secrets.MembershipKey(), secrets.SenderDataSecret(), stree)
	if err != nil {
		stree.Erase()
		return err
	}
	g.gc = *gc
	g.gcBytes = gcBytes
	g.secrets = secrets
	g.pc = pc
	g.interim = interim
	g.confirmationTag = tag
	if g.exporter != nil {
		g.exporter.erase()
		g.exporter = nil
	}
	if root := secrets.applicationExportSecret; root != nil {
		g.exporter = newExporterTree(g.suite, root)
		secrets.applicationExportSecret = nil
	}
	return nil
}

// advance retires the current epoch into the window of past epochs and
// installs the next one. tree is the ratchet tree of the new epoch.
func (g *Group) advance(tree *RatchetTree, gc *GroupContext, gcBytes []byte, secrets *EpochSecrets, interim, tag []byte) error {
	old := &pastEpoch{epoch: g.gc.Epoch, pc: g.pc, tree: g.tree.publicClone()}
	oldSecrets := g.secrets
	oldTree := g.tree
	g.tree = tree
	if err := g.installEpoch(gc, gcBytes, secrets, interim, tag); err != nil {
		g.tree = oldTree
		return err
	}
	erasePrivateKeys(oldTree, tree)
	// Of the old epoch only what late messages (the protection context,
	// which holds copies of its secrets) and resumption need is kept; the
	// init_secret is consumed by the new epoch (section 9.2).
	old.resumptionPSK = bytes.Clone(oldSecrets.ResumptionPSK())
	oldSecrets.Erase()
	g.past = append(g.past, old)
	g.trimPast()
	g.proposals.erase()
	g.proposals = newProposalCache()
	return nil
}

// trimPast drops past epochs beyond the configured window, erasing their
// secrets.
func (g *Group) trimPast() {
	for len(g.past) > g.cfg.pastEpochs() {
		p := g.past[0]
		p.pc.Erase() // and its secret tree
		clear(p.resumptionPSK)
		g.past = g.past[1:]
	}
}

// erasePrivateKeys zeroes the private keys that the discarded tree old
// holds and kept does not (RFC 9420 section 9.2): keys of nodes that a
// commit replaced, or of a commit that will not be merged. Clones share
// key slices, so a key is kept when kept holds the same slice.
func erasePrivateKeys(old, kept *RatchetTree) {
	if old.priv == nil {
		return
	}
	keep := make(map[*byte]bool)
	mark := func(k []byte) {
		if len(k) > 0 {
			keep[&k[0]] = true
		}
	}
	drop := func(k []byte) {
		if len(k) > 0 && !keep[&k[0]] {
			clear(k)
		}
	}
	if kept.priv != nil {
		mark(kept.priv.leaf)
		for _, k := range kept.priv.nodes {
			mark(k)
		}
	}
	drop(old.priv.leaf)
	for _, k := range old.priv.nodes {
		drop(k)
	}
}

// checkActive returns ErrGroupInactive unless the group can send.
func (g *Group) checkActive() error {
	switch g.state {
	case stateRemoved:
		return fmt.Errorf("%w: this client was removed", ErrGroupInactive)
	case stateReInit:
		return fmt.Errorf("%w: the group was closed by a ReInit", ErrGroupInactive)
	case stateErased:
		return fmt.Errorf("%w: the group was erased", ErrGroupInactive)
	}
	return nil
}

// GroupID returns the group's ID.
func (g *Group) GroupID() []byte { return bytes.Clone(g.gc.GroupID) }

// Epoch returns the current epoch.
func (g *Group) Epoch() uint64 { return g.gc.Epoch }

// CipherSuite returns the group's cipher suite.
func (g *Group) CipherSuite() ciphersuite.ID { return g.suite.ID() }

// OwnLeaf returns this client's leaf index.
func (g *Group) OwnLeaf() LeafIndex { return g.self }

// Identity returns this client's identity in the group.
func (g *Group) Identity() *Identity { return g.id }

// Active reports whether this client can still send in the group: false
// once a commit removed it or a ReInit closed the group.
func (g *Group) Active() bool { return g.state == stateActive }

// GroupContext returns a copy of the current GroupContext.
func (g *Group) GroupContext() GroupContext { return cloneGroupContext(&g.gc) }

// cloneGroupContext returns a deep copy of gc.
func cloneGroupContext(src *GroupContext) GroupContext {
	gc := *src
	gc.GroupID = bytes.Clone(gc.GroupID)
	gc.TreeHash = bytes.Clone(gc.TreeHash)
	gc.ConfirmedTranscriptHash = bytes.Clone(gc.ConfirmedTranscriptHash)
	gc.Extensions = cloneExtensions(gc.Extensions)
	return gc
}

// cloneExtensions returns a deep copy of exts.
func cloneExtensions(exts Extensions) Extensions {
	if exts == nil {
		return nil
	}
	out := make(Extensions, len(exts))
	for i, e := range exts {
		out[i] = Extension{ExtensionType: e.ExtensionType, ExtensionData: bytes.Clone(e.ExtensionData)}
	}
	return out
}

// Extensions returns a copy of the GroupContext extensions.
func (g *Group) Extensions() Extensions { return g.GroupContext().Extensions }

// TreeHash returns the tree hash of the current ratchet tree.
func (g *Group) TreeHash() []byte { return bytes.Clone(g.gc.TreeHash) }

// RatchetTree returns the public ratchet tree in wire form, for sending
// out of band. The nodes are shared with the group: do not modify them.
func (g *Group) RatchetTree() TreeNodes { return g.tree.Nodes() }

// EpochAuthenticator returns the epoch_authenticator of the current epoch
// (RFC 9420 section 8.7). Members who compare it out of band confirm that
// they share the same group state and that no one in the middle holds
// keys of the group.
func (g *Group) EpochAuthenticator() []byte { return bytes.Clone(g.secrets.EpochAuthenticator()) }

// Export returns MLS-Exporter(label, context, length) of the current
// epoch (RFC 9420 section 8.5): a secret the members share, for use by
// the application. It is not forward secure within the epoch; SafeExport
// is.
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	if g.state == stateRemoved || g.state == stateErased {
		return nil, ErrGroupInactive
	}
	return g.secrets.Exporter(label, context, length)
}

// ResumptionPSK returns the resumption_psk of epoch, the current one or a
// kept past one (RFC 9420 section 8.6).
func (g *Group) ResumptionPSK(epoch uint64) ([]byte, error) {
	if g.state == stateErased {
		return nil, g.checkActive()
	}
	if epoch == g.gc.Epoch && g.state != stateRemoved {
		return bytes.Clone(g.secrets.ResumptionPSK()), nil
	}
	for _, p := range g.past {
		if p.epoch == epoch {
			return bytes.Clone(p.resumptionPSK), nil
		}
	}
	return nil, fmt.Errorf("mls: resumption PSK of epoch %d not kept", epoch)
}

// Members returns the members of the group in leaf order.
func (g *Group) Members() []Member { return g.members() }

func (g *groupCore) members() []Member {
	members := make([]Member, 0, g.tree.NumMembers())
	for i := range g.tree.NumLeaves() {
		if m, ok := memberAt(g.tree, LeafIndex(i)); ok {
			members = append(members, m)
		}
	}
	return members
}

// Member returns the member at leaf, if that leaf is not blank.
func (g *Group) Member(leaf LeafIndex) (Member, bool) { return memberAt(g.tree, leaf) }

func memberAt(t *RatchetTree, i LeafIndex) (Member, bool) {
	ln := t.Leaf(i)
	if ln == nil {
		return Member{}, false
	}
	return Member{Leaf: i, Credential: ln.Credential, SignatureKey: ln.SignatureKey, LeafNode: ln}, true
}

// memberKeys returns the MemberKeyFunc of tree t.
func memberKeys(t *RatchetTree) MemberKeyFunc {
	return func(leaf LeafIndex) ([]byte, error) {
		ln := t.Leaf(leaf)
		if ln == nil {
			return nil, fmt.Errorf("%w: leaf %d", ErrNotMember, leaf)
		}
		return ln.SignatureKey, nil
	}
}

// String describes the group without revealing any secret.
func (g *Group) String() string {
	return fmt.Sprintf("mls.Group(%s, epoch %d, leaf %d of %d members)", g.suite.Name(), g.gc.Epoch, g.self, g.tree.NumMembers())
}

// GoString keeps %#v from printing secrets.
func (g *Group) GoString() string { return g.String() }

// groupInfo builds and signs the GroupInfo of the state (tree, gc, tag,
// secrets), with the ratchet tree inline unless outOfBand, and external_pub
// when withExternalPub.
func (g *Group) groupInfo(signer *Identity, tree *RatchetTree, gc *GroupContext, tag []byte, secrets *EpochSecrets, outOfBand, withExternalPub bool) (*GroupInfo, error) {
	gi := &GroupInfo{GroupContext: *gc, ConfirmationTag: tag, Signer: g.self, Extensions: Extensions{}}
	if withExternalPub {
		pub, err := secrets.ExternalPub()
		if err != nil {
			return nil, err
		}
		data, err := (&ExternalPub{ExternalPub: pub}).MarshalBinary()
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, Extension{ExtensionType: ExtensionTypeExternalPub, ExtensionData: data})
	}
	if !g.cfg.NoGREASE {
		gi.Extensions = append(gi.Extensions, greaseExtension())
	}
	if !outOfBand {
		data, err := tree.MarshalBinary()
		if err != nil {
			return nil, err
		}
		gi.Extensions = append(gi.Extensions, Extension{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: data})
	}
	if err := gi.Sign(signer.SigningKey); err != nil {
		return nil, err
	}
	return gi, nil
}

// leafOptions returns the options of a leaf the group makes for itself
// (opts may be nil), with GREASE off when the Config says so.
func (g *Group) leafOptions(opts *KeyPackageOptions) *KeyPackageOptions {
	o := KeyPackageOptions{}
	if opts != nil {
		o = *opts
	}
	o.NoGREASE = o.NoGREASE || g.cfg.NoGREASE
	return &o
}

// GroupInfoOptions choose what GroupInfo includes.
type GroupInfoOptions struct {
	// RatchetTreeOutOfBand leaves out the ratchet_tree extension: joiners
	// get the tree some other way (see RatchetTree).
	RatchetTreeOutOfBand bool
	// NoExternalPub leaves out the external_pub extension, so the
	// GroupInfo cannot be used for an external commit.
	NoExternalPub bool
}

// GroupInfo returns a signed GroupInfo of the current epoch (RFC 9420
// section 12.4.3), by default with the ratchet tree and external_pub, so
// that a new member can join with JoinExternal. opts may be nil.
func (g *Group) GroupInfo(opts *GroupInfoOptions) (*MLSMessage, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &GroupInfoOptions{}
	}
	gi, err := g.groupInfo(g.id, g.tree, &g.gc, g.confirmationTag, g.secrets, opts.RatchetTreeOutOfBand, !opts.NoExternalPub)
	if err != nil {
		return nil, err
	}
	return &MLSMessage{GroupInfo: gi}, nil
}

// lowestCommonAncestor returns the lowest node above both leaves.
func lowestCommonAncestor(a, b LeafIndex) NodeIndex {
	return treemath.CommonAncestor(a.NodeIndex(), b.NodeIndex())
}

// Erase zeroes every secret the group holds: the epoch secrets, the
// message keys of the current and past epochs, the private keys of the
// ratchet tree, the pending commit and cached proposals. Call it when the
// application is done with a group (left it, or loaded it only to read
// from it) rather than leaving the secrets to the garbage collector. The
// signing key belongs to the Identity, which other groups may share, and
// is left alone. Afterwards every operation fails with ErrGroupInactive,
// and the group cannot be saved.
func (g *Group) Erase() {
	if g.pending != nil {
		g.discardPending()
	}
	if g.secrets != nil {
		g.secrets.Erase()
	}
	if g.pc != nil {
		g.pc.Erase()
	}
	if g.tree != nil && g.tree.priv != nil {
		g.tree.priv.erase()
	}
	for _, p := range g.past {
		p.pc.Erase()
		clear(p.resumptionPSK)
	}
	g.past = nil
	g.proposals.erase()
	g.proposals = newProposalCache()
	g.reinit, g.resumeFrom = nil, nil
	if g.exporter != nil {
		g.exporter.erase()
	}
	g.state = stateErased
}
