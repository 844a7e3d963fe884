package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
)

// This file holds proposals as a group handles them: the cache of the
// proposals received in an epoch, the validity of one proposal (RFC 9420
// section 12.1) and of a committed list (section 12.2), and the
// application of a list to a provisional ratchet tree and GroupContext
// (section 12.3).

// ErrInvalidProposal is wrapped by the *ValidationError of a proposal, or
// of a proposal list, that breaks a rule of RFC 9420 section 12.1 or 12.2.
var ErrInvalidProposal = errors.New("mls: invalid proposal")

// ErrInvalidCommit is wrapped by the *ValidationError of a commit that
// breaks a rule of RFC 9420 section 12.4 other than those of its proposals.
var ErrInvalidCommit = errors.New("mls: invalid commit")

// The rules of sections 12.1 to 12.4 that a *ValidationError names.
const (
	ruleProposalSender       = "proposal_sender"
	ruleRemoveBlank          = "remove_blank_leaf"
	rulePSKUsage             = "psk_usage"
	rulePSKNonce             = "psk_nonce"
	ruleReInitVersion        = "reinit_version"
	ruleGroupExtensions      = "group_context_extensions"
	ruleDuplicateExtension   = "duplicate_extension"
	ruleExternalSender       = "external_sender"
	ruleUpdateByCommitter    = "update_by_committer"
	ruleRemoveCommitter      = "remove_committer"
	ruleSameLeafTwice        = "update_remove_same_leaf"
	ruleDuplicateAdd         = "duplicate_add"
	ruleAddExistingMember    = "add_existing_member"
	ruleDuplicatePSK         = "duplicate_psk"
	ruleMultipleGCE          = "multiple_group_context_extensions"
	ruleReInitNotAlone       = "reinit_not_alone"
	ruleExternalInitInCommit = "external_init_in_member_commit"
	ruleUnsupportedProposal  = "unsupported_proposal_type"
	ruleExternalCommit       = "external_commit_proposals"
	rulePathRequired         = "path_required"
	ruleUnknownProposalRef   = "unknown_proposal_ref"
	ruleCommitSender         = "commit_sender"

	// The SelfRemove rules of draft-ietf-mls-extensions ("SelfRemove
	// Proposal"), which name no RFC 9420 section.
	ruleSelfRemovePublic      = "self_remove_public_message"
	ruleSelfRemoveOnce        = "self_remove_once_per_epoch"
	ruleSelfRemoveByReference = "self_remove_by_reference"
)

// groupRuleSections maps the group's rules to the RFC 9420 section (or
// erratum) that states them, for ValidationError.Error.
var groupRuleSections = map[string]string{
	ruleProposalSender:       "12.1.8",
	ruleRemoveBlank:          "12.1.3",
	rulePSKUsage:             "12.1.4",
	rulePSKNonce:             "12.1.4",
	ruleReInitVersion:        "12.1.5",
	ruleGroupExtensions:      "12.1.7",
	ruleDuplicateExtension:   "13.4",
	ruleExternalSender:       "12.1.8.1",
	ruleUpdateByCommitter:    "12.2",
	ruleRemoveCommitter:      "12.2",
	ruleSameLeafTwice:        "12.2",
	ruleDuplicateAdd:         "12.2",
	ruleAddExistingMember:    "12.2",
	ruleDuplicatePSK:         "12.2",
	ruleMultipleGCE:          "12.2",
	ruleReInitNotAlone:       "12.2",
	ruleExternalInitInCommit: "12.2",
	ruleUnsupportedProposal:  "12.2",
	ruleExternalCommit:       "12.2",
	rulePathRequired:         "12.4",
	ruleUnknownProposalRef:   "12.4, erratum 8815",
	ruleCommitSender:         "12.4.3.2",

	ruleSelfRemovePublic:      selfRemoveSection,
	ruleSelfRemoveOnce:        selfRemoveSection,
	ruleSelfRemoveByReference: selfRemoveSection,
}

// selfRemoveSection is where draft-ietf-mls-extensions-10 states the rules
// of SelfRemove.
const selfRemoveSection = "draft-ietf-mls-extensions-10 section 6.3.1"

// proposalErr returns the *ValidationError of a broken proposal rule.
func proposalErr(rule, format string, args ...any) error {
	return &ValidationError{Rule: rule, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidProposal}
}

// commitErr returns the *ValidationError of a broken commit rule.
func commitErr(rule, format string, args ...any) error {
	return &ValidationError{Rule: rule, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidCommit}
}

// cachedProposal is a proposal received (or sent) in the current epoch,
// which commits may include by reference.
type cachedProposal struct {
	ref      []byte
	proposal *Proposal
	sender   Sender
	// updatePriv is the private key of the leaf of this client's own
	// Update proposal, needed if a commit applies it.
	updatePriv []byte
	// sent is the encoding of the message of this client's own proposal,
	// to recognize it when the Delivery Service echoes it.
	sent []byte
	// newID is the identity of this client's own Update that changes its
	// credential or signature key (ProposeUpdateIdentity): the group signs
	// with it once a commit applies the Update.
	newID *Identity
}

// proposalCache holds the proposals of an epoch in arrival order.
type proposalCache struct {
	list  []*cachedProposal
	byRef map[string]*cachedProposal
}

func newProposalCache() *proposalCache {
	return &proposalCache{byRef: make(map[string]*cachedProposal)}
}

// add caches p, unless a proposal with the same reference is cached (the
// same message received twice).
func (c *proposalCache) add(p *cachedProposal) {
	if _, ok := c.byRef[string(p.ref)]; ok {
		return
	}
	c.list = append(c.list, p)
	c.byRef[string(p.ref)] = p
}

// erase zeroes the private keys of this client's own cached Updates.
func (c *proposalCache) erase() {
	for _, p := range c.list {
		clear(p.updatePriv)
	}
}

// ownEcho returns this client's own cached proposal whose message is enc.
func (c *proposalCache) ownEcho(enc []byte) *cachedProposal {
	for _, p := range c.list {
		if p.sent != nil && bytes.Equal(p.sent, enc) {
			return p
		}
	}
	return nil
}

// PendingProposal is a proposal cached in the current epoch: the next
// commit of this client includes it by reference.
type PendingProposal struct {
	Ref      []byte
	Proposal *Proposal
	Sender   Sender
}

// PendingProposals returns the proposals cached in the current epoch, in
// the order they were received.
func (g *Group) PendingProposals() []PendingProposal { return g.pendingProposals() }

func (g *groupCore) pendingProposals() []PendingProposal {
	out := make([]PendingProposal, len(g.proposals.list))
	for i, p := range g.proposals.list {
		out[i] = PendingProposal{Ref: bytes.Clone(p.ref), Proposal: p.proposal, Sender: p.sender}
	}
	return out
}

// DiscardProposal drops the cached proposal ref, so that this client's
// next commit does not include it (the application's policy rejected it).
// A commit of another member may still include it.
func (g *Group) DiscardProposal(ref []byte) bool {
	p, ok := g.proposals.byRef[string(ref)]
	if !ok {
		return false
	}
	delete(g.proposals.byRef, string(ref))
	g.proposals.list = slices.DeleteFunc(g.proposals.list, func(q *cachedProposal) bool { return q == p })
	clear(p.updatePriv)
	return true
}

// committedProposal is one proposal of a commit's list, resolved: by value,
// or from the cache by reference.
type committedProposal struct {
	p          *Proposal
	sender     Sender
	ref        []byte // nil when sent by value
	updatePriv []byte
	newID      *Identity
}

// checkProposal checks one proposal against the current state, as a
// received proposal (RFC 9420 section 12.1) or one proposed by value in a
// commit. own is set when this client sends it.
func (g *groupCore) checkProposal(p *Proposal, sender Sender, own bool) error {
	t := p.Type()
	if t == 0 {
		return proposalErr(ruleProposalSender, "proposal without exactly one body")
	}
	if own {
		if err := checkProposalSendable(p); err != nil {
			return err
		}
	}
	switch sender.SenderType {
	case SenderTypeMember:
		if t == ProposalTypeExternalInit {
			return proposalErr(ruleProposalSender, "a member cannot send an ExternalInit")
		}
	case SenderTypeExternal:
		// Section 12.1.8: other types from external senders are malformed;
		// no custom type here says it may be sent externally.
		switch t {
		case ProposalTypeAdd, ProposalTypeRemove, ProposalTypePreSharedKey, ProposalTypeReInit, ProposalTypeGroupContextExtensions:
		default:
			return proposalErr(ruleProposalSender, "an external sender cannot propose %v", t)
		}
	case SenderTypeNewMemberProposal:
		if t != ProposalTypeAdd {
			return proposalErr(ruleProposalSender, "a new_member_proposal sender can only propose an Add")
		}
	case SenderTypeNewMemberCommit:
		// A SelfRemove in an external commit is a member's proposal by
		// reference, never the joiner's own.
		switch t {
		case ProposalTypeExternalInit, ProposalTypeRemove, ProposalTypePreSharedKey:
		default:
			return commitErr(ruleExternalCommit, "an external commit cannot carry %v by value", t)
		}
	default:
		return proposalErr(ruleProposalSender, "invalid sender type %v", sender.SenderType)
	}
	switch {
	case p.Add != nil:
		return g.checkKeyPackage(&p.Add.KeyPackage, own)
	case p.Update != nil:
		if sender.SenderType != SenderTypeMember {
			return proposalErr(ruleProposalSender, "only a member can send an Update")
		}
		prev := g.tree.Leaf(sender.LeafIndex)
		if prev == nil {
			return fmt.Errorf("%w: leaf %d", ErrNotMember, sender.LeafIndex)
		}
		return g.tree.ValidateLeafNode(&p.Update.LeafNode, LeafNodeSourceUpdate, g.gc.GroupID, sender.LeafIndex,
			g.leafOpts(g.gc.Extensions, CredentialEventUpdate, &prev.Credential, !own))
	case p.Remove != nil:
		if g.tree.Leaf(p.Remove.Removed) == nil {
			return proposalErr(ruleRemoveBlank, "leaf %d is blank", p.Remove.Removed)
		}
	case p.PreSharedKey != nil:
		return g.checkPSKProposal(&p.PreSharedKey.PSK)
	case p.ReInit != nil:
		if p.ReInit.Version < g.gc.Version {
			return proposalErr(ruleReInitVersion, "version %v older than the group's %v", p.ReInit.Version, g.gc.Version)
		}
		return checkGroupExtensions(p.ReInit.Extensions)
	case p.GroupContextExtensions != nil:
		return checkGroupExtensions(p.GroupContextExtensions.Extensions)
	case p.SelfRemove != nil:
		return g.checkSelfRemove(sender)
	}
	return nil
}

// checkSelfRemove checks a SelfRemove proposal of sender, received or
// this client's own (draft-ietf-mls-extensions, "SelfRemove Proposal"):
// only a member sends one (it is not for external senders), at most one
// per member and epoch, and only in a self-remove-capable group, where
// every member lists the type in its capabilities (a commit of it in any
// other group would be invalid under RFC 9420 section 12.2).
func (g *groupCore) checkSelfRemove(sender Sender) error {
	if sender.SenderType != SenderTypeMember {
		return proposalErr(ruleProposalSender, "a %v sender cannot send a SelfRemove", sender.SenderType)
	}
	for _, c := range g.proposals.list {
		if c.proposal.SelfRemove != nil && c.sender == sender {
			return proposalErr(ruleSelfRemoveOnce, "a second SelfRemove of leaf %d in the epoch", sender.LeafIndex)
		}
	}
	for i := range g.tree.NumLeaves() {
		if ln := g.tree.Leaf(LeafIndex(i)); ln != nil && !slices.Contains(ln.Capabilities.Proposals, ProposalTypeSelfRemove) {
			return proposalErr(ruleUnsupportedProposal, "member at leaf %d does not support SelfRemove", i)
		}
	}
	return nil
}

// checkKeyPackage validates a KeyPackage to be added (RFC 9420 section
// 10.1) and its credential with the Authentication Service. own is set for
// KeyPackages this client adds, whose lifetime is always checked.
func (g *groupCore) checkKeyPackage(kp *KeyPackage, own bool) error {
	ctx := CredentialContext{Event: CredentialEventKeyPackage, Suite: g.suite.ID(), GroupID: g.gc.GroupID}
	policy := g.cfg.keyPackagePolicy(own)
	policy.CredentialValidator = g.cfg.CredentialValidator
	return kp.validate(g.suite.ID(), policy, ctx)
}

// checkPSKProposal checks the PreSharedKeyID of a PreSharedKey proposal
// (RFC 9420 section 12.1.4): resumption PSKs of usage reinit and branch
// are only for the first epoch of a new group, and the nonce is Nh bytes.
func (g *groupCore) checkPSKProposal(id *PreSharedKeyID) error {
	if id.PSKType == PSKTypeResumption && id.Usage != ResumptionPSKUsageApplication {
		resuming := g.gc.Epoch == 0 && (g.observer || g.resumeFrom != nil && id.Usage == g.resumeUsage && bytes.Equal(id.PSKGroupID, g.resumeFrom.gc.GroupID))
		if !resuming {
			return proposalErr(rulePSKUsage, "resumption PSK of usage %v in a proposal", id.Usage)
		}
	}
	if len(id.PSKNonce) != g.suite.HashSize() {
		return proposalErr(rulePSKNonce, "psk_nonce of %d bytes, want %d", len(id.PSKNonce), g.suite.HashSize())
	}
	return nil
}

// checkGroupExtensions checks a list of GroupContext extensions: no type
// twice (RFC 9420 section 13.4), and the extensions the group interprets
// well formed.
func checkGroupExtensions(exts Extensions) error {
	seen := make(map[ExtensionType]bool, len(exts))
	for _, e := range exts {
		if seen[e.ExtensionType] {
			return proposalErr(ruleDuplicateExtension, "two %v extensions", e.ExtensionType)
		}
		seen[e.ExtensionType] = true
		var err error
		switch e.ExtensionType {
		case ExtensionTypeRequiredCapabilities:
			err = new(RequiredCapabilities).UnmarshalBinary(e.ExtensionData)
		case ExtensionTypeExternalSenders:
			err = new(ExternalSenders).UnmarshalBinary(e.ExtensionData)
		case ExtensionTypeRatchetTree, ExtensionTypeExternalPub:
			err = fmt.Errorf("%v is not a GroupContext extension", e.ExtensionType)
		}
		if err != nil {
			return proposalErr(ruleGroupExtensions, "%v", err)
		}
	}
	return nil
}

// checkExternalSenders validates with the Authentication Service the
// entries of the external_senders extension of exts that prev does not
// already have (RFC 9420 section 5.3.1).
func (g *groupCore) checkExternalSenders(exts, prev Extensions) error {
	ext, ok := exts.Find(ExtensionTypeExternalSenders)
	if !ok {
		return nil
	}
	var senders, old ExternalSenders
	if err := senders.UnmarshalBinary(ext.ExtensionData); err != nil {
		return err
	}
	if pe, ok := prev.Find(ExtensionTypeExternalSenders); ok {
		if err := old.UnmarshalBinary(pe.ExtensionData); err != nil {
			return err
		}
	}
	known := make(map[string]bool, len(old))
	for _, s := range old {
		known[string(s.SignatureKey)] = true
	}
	for i, s := range senders {
		if known[string(s.SignatureKey)] {
			continue
		}
		ctx := CredentialContext{Event: CredentialEventExternalSender, Suite: g.suite.ID(), GroupID: g.gc.GroupID}
		if err := g.cfg.CredentialValidator.ValidateCredential(ctx, s.Credential, s.SignatureKey); err != nil {
			return &ValidationError{Rule: ruleExternalSender, Reason: fmt.Sprintf("external sender %d: %v", i, err), Err: ErrCredential, Cause: err}
		}
	}
	return nil
}

// leafOpts returns the validation options of a leaf received or sent in
// the group, whose credential is checked for event (prev is the credential
// it replaces, for updates). The lifetime policy applies to leaves
// received from others; this client checks its own when it makes them.
func (g *groupCore) leafOpts(exts Extensions, event CredentialEvent, prev *Credential, received bool) *LeafValidationOptions {
	opts := &LeafValidationOptions{GroupContextExtensions: nonNil(exts)}
	if received {
		opts.Lifetimes = &g.cfg.Lifetimes
	}
	if event != 0 {
		ctx := CredentialContext{Event: event, Suite: g.suite.ID(), GroupID: g.gc.GroupID, Previous: prev}
		v := g.cfg.CredentialValidator
		opts.ValidateCredential = func(c *Credential, key []byte) error { return v.ValidateCredential(ctx, *c, key) }
	}
	return opts
}

// validateProposalList checks a commit's list against the rules of RFC
// 9420 section 12.2 that need only the list and the current tree.
// committer is the commit's sender.
func (g *groupCore) validateProposalList(list []committedProposal, committer Sender) error {
	if committer.SenderType == SenderTypeNewMemberCommit {
		return validateExternalCommitList(list)
	}
	self := committer.LeafIndex
	touched := make(map[LeafIndex]bool)
	addKeys := make(map[string]bool)
	psks := make(map[string]bool)
	var gce, reinit int
	removedKeys := make(map[string]bool)
	for _, c := range list {
		if leaf, ok := removedLeaf(c); ok {
			if ln := g.tree.Leaf(leaf); ln != nil {
				removedKeys[string(ln.SignatureKey)] = true
			}
		}
	}
	census := g.tree.getCensus()
	for _, c := range list {
		p := c.p
		switch {
		case p.Update != nil:
			if c.sender.SenderType != SenderTypeMember {
				return proposalErr(ruleProposalSender, "Update from a %v sender", c.sender.SenderType)
			}
			if c.sender.LeafIndex == self {
				return proposalErr(ruleUpdateByCommitter, "the committer's own Update")
			}
			if touched[c.sender.LeafIndex] {
				return proposalErr(ruleSameLeafTwice, "leaf %d updated or removed twice", c.sender.LeafIndex)
			}
			touched[c.sender.LeafIndex] = true
		case p.Remove != nil:
			if p.Remove.Removed == self {
				return proposalErr(ruleRemoveCommitter, "the committer removes itself")
			}
			if touched[p.Remove.Removed] {
				return proposalErr(ruleSameLeafTwice, "leaf %d updated or removed twice", p.Remove.Removed)
			}
			touched[p.Remove.Removed] = true
		case p.SelfRemove != nil:
			// Like a Remove of the proposer's leaf (draft-ietf-mls-
			// extensions): a Remove of the same leaf makes the list invalid.
			if c.ref == nil {
				return proposalErr(ruleSelfRemoveByReference, "a SelfRemove by value")
			}
			if c.sender.LeafIndex == self {
				return proposalErr(ruleRemoveCommitter, "the committer commits its own SelfRemove")
			}
			if touched[c.sender.LeafIndex] {
				return proposalErr(ruleSameLeafTwice, "leaf %d updated or removed twice", c.sender.LeafIndex)
			}
			touched[c.sender.LeafIndex] = true
		case p.Add != nil:
			key := p.Add.KeyPackage.LeafNode.SignatureKey
			if addKeys[string(key)] {
				return proposalErr(ruleDuplicateAdd, "two Adds of the same client")
			}
			addKeys[string(key)] = true
			if getBytes(&census.sigKeys, key) > 0 && !removedKeys[string(key)] {
				return proposalErr(ruleAddExistingMember, "Add of a client already in the group")
			}
		case p.PreSharedKey != nil:
			enc, err := p.PreSharedKey.PSK.MarshalBinary()
			if err != nil {
				return err
			}
			if psks[string(enc)] {
				return proposalErr(ruleDuplicatePSK, "the same PSK twice")
			}
			psks[string(enc)] = true
		case p.GroupContextExtensions != nil:
			if gce++; gce > 1 {
				return proposalErr(ruleMultipleGCE, "more than one GroupContextExtensions")
			}
		case p.ReInit != nil:
			reinit++
		case p.ExternalInit != nil:
			return proposalErr(ruleExternalInitInCommit, "ExternalInit in a member's commit")
		}
	}
	if reinit > 0 && len(list) > 1 {
		return proposalErr(ruleReInitNotAlone, "ReInit with other proposals")
	}
	return nil
}

// validateExternalCommitList checks the list of an external commit (RFC
// 9420 section 12.2): exactly one ExternalInit, at most one Remove, any
// PreSharedKeys, nothing else, and all by value (section 12.4.3.2); and
// any number of SelfRemoves, by reference (draft-ietf-mls-extensions),
// each of another leaf than the Remove's.
func validateExternalCommitList(list []committedProposal) error {
	var inits, removes int
	psks := make(map[string]bool)
	touched := make(map[LeafIndex]bool)
	for _, c := range list {
		if leaf, ok := removedLeaf(c); ok {
			if touched[leaf] {
				return proposalErr(ruleSameLeafTwice, "leaf %d removed twice", leaf)
			}
			touched[leaf] = true
		}
		if c.p.SelfRemove != nil {
			if c.ref == nil {
				return proposalErr(ruleSelfRemoveByReference, "a SelfRemove by value")
			}
			continue
		}
		if c.ref != nil {
			return commitErr(ruleExternalCommit, "external commit with a proposal by reference")
		}
		switch c.p.Type() {
		case ProposalTypeExternalInit:
			inits++
		case ProposalTypeRemove:
			removes++
		case ProposalTypePreSharedKey:
			enc, err := c.p.PreSharedKey.PSK.MarshalBinary()
			if err != nil {
				return err
			}
			if psks[string(enc)] {
				return proposalErr(ruleDuplicatePSK, "the same PSK twice")
			}
			psks[string(enc)] = true
		default:
			return commitErr(ruleExternalCommit, "external commit with a %v proposal", c.p.Type())
		}
	}
	if inits != 1 || removes > 1 {
		return commitErr(ruleExternalCommit, "external commit with %d ExternalInit and %d Remove proposals", inits, removes)
	}
	return nil
}

// removedLeaf returns the leaf that c removes, by a Remove or a SelfRemove
// (the leaf of the SelfRemove's sender).
func removedLeaf(c committedProposal) (LeafIndex, bool) {
	switch {
	case c.p.Remove != nil:
		return c.p.Remove.Removed, true
	case c.p.SelfRemove != nil:
		return c.sender.LeafIndex, true
	}
	return 0, false
}

// pathRequired reports whether a commit of list must carry a path (RFC
// 9420 section 12.4): when the list is empty or holds a proposal of a
// path-required type. Custom types are taken to require one, the safe
// side for types this package cannot judge.
func pathRequired(list []committedProposal) bool {
	if len(list) == 0 {
		return true
	}
	for _, c := range list {
		switch c.p.Type() {
		case ProposalTypeAdd, ProposalTypePreSharedKey, ProposalTypeReInit:
		default:
			return true
		}
	}
	return false
}

// addedMember is a member added by a commit.
type addedMember struct {
	leaf LeafIndex
	kp   *KeyPackage
}

// provisional is the state that applying a commit's proposals yields
// (RFC 9420 section 12.3), before the path is merged.
type provisional struct {
	tree         *RatchetTree
	extensions   Extensions
	gceChanged   bool
	added        []addedMember
	removed      []Member
	updated      []LeafIndex
	psks         []PreSharedKeyID
	externalInit *ExternalInitProposal
	reinit       *ReInitProposal
	selfRemoved  bool
	// selfRemoves counts the members at the start of removed that
	// SelfRemoves removed; the Removes' follow.
	selfRemoves int
	// newID is this client's new identity when the commit applies its
	// Update that changed its credential or signature key.
	newID *Identity
}

// addedLeaves returns the leaves added by the commit.
func (p *provisional) addedLeaves() []LeafIndex {
	out := make([]LeafIndex, len(p.added))
	for i, a := range p.added {
		out[i] = a.leaf
	}
	return out
}

// applyProposals applies list to a copy of the tree and of the GroupContext
// extensions in the order of RFC 9420 section 12.3, validating every new
// leaf against the tree it enters, then checks the rules that need the
// resulting membership. The list must already have passed
// validateProposalList.
func (g *groupCore) applyProposals(list []committedProposal) (*provisional, error) {
	p := &provisional{tree: g.tree.Clone(), extensions: g.gc.Extensions}
	t := p.tree
	gid := g.gc.GroupID
	for _, c := range list {
		if gce := c.p.GroupContextExtensions; gce != nil {
			if err := g.checkExternalSenders(gce.Extensions, g.gc.Extensions); err != nil {
				return nil, err
			}
			p.extensions = gce.Extensions
			p.gceChanged = true
		}
	}
	for _, c := range list {
		u := c.p.Update
		if u == nil {
			continue
		}
		i := c.sender.LeafIndex
		prev := t.Leaf(i)
		if prev == nil {
			return nil, fmt.Errorf("%w: Update from leaf %d", ErrNotMember, i)
		}
		ln := u.LeafNode
		if err := t.ValidateLeafNode(&ln, LeafNodeSourceUpdate, gid, i, g.leafOpts(p.extensions, CredentialEventUpdate, &prev.Credential, true)); err != nil {
			return nil, err
		}
		if err := t.UpdateLeaf(i, &ln); err != nil {
			return nil, err
		}
		p.updated = append(p.updated, i)
		if i == g.self {
			// This client's own Update: its leaf now has the key pair
			// kept when the Update was sent.
			if c.updatePriv == nil {
				return nil, errors.New("mls: commit applies an Update of this client that it does not know")
			}
			if err := t.SetLeafPrivateKey(i, c.updatePriv); err != nil {
				return nil, err
			}
			p.newID = c.newID
		}
	}
	// SelfRemoves come after the Updates and before the Removes
	// (draft-ietf-mls-extensions); each removes its sender's leaf.
	remove := func(leaf LeafIndex) error {
		m, ok := memberAt(t, leaf)
		if !ok {
			return proposalErr(ruleRemoveBlank, "leaf %d is blank", leaf)
		}
		if err := t.RemoveLeaf(leaf); err != nil {
			return err
		}
		p.removed = append(p.removed, m)
		if leaf == g.self {
			p.selfRemoved = true
		}
		return nil
	}
	for _, c := range list {
		if c.p.SelfRemove != nil {
			if err := remove(c.sender.LeafIndex); err != nil {
				return nil, err
			}
			p.selfRemoves++
		}
	}
	for _, c := range list {
		if r := c.p.Remove; r != nil {
			if err := remove(r.Removed); err != nil {
				return nil, err
			}
		}
	}
	for _, c := range list {
		a := c.p.Add
		if a == nil {
			continue
		}
		// The signature, credential and lifetime were checked with the
		// KeyPackage; here the leaf meets the tree it enters.
		if err := g.checkAddedLeaf(t, &a.KeyPackage.LeafNode, p.extensions); err != nil {
			return nil, err
		}
		i, err := t.AddLeaf(&a.KeyPackage.LeafNode)
		if err != nil {
			return nil, err
		}
		p.added = append(p.added, addedMember{leaf: i, kp: &a.KeyPackage})
	}
	for _, c := range list {
		switch {
		case c.p.PreSharedKey != nil:
			p.psks = append(p.psks, c.p.PreSharedKey.PSK)
		case c.p.ExternalInit != nil:
			p.externalInit = c.p.ExternalInit
		case c.p.ReInit != nil:
			p.reinit = c.p.ReInit
		}
	}
	if err := g.checkSupport(p, list); err != nil {
		return nil, err
	}
	return p, nil
}

// checkAddedLeaf checks the leaf of a KeyPackage being added against the
// tree t it enters, with the group's extensions exts: ValidateLeafNode's
// checks but the signature, which KeyPackage validation verified (a
// key_package leaf signs neither the group nor its position).
func (g *groupCore) checkAddedLeaf(t *RatchetTree, ln *LeafNode, exts Extensions) error {
	opts := g.leafOpts(exts, 0, nil, false)
	slot, gc, err := prepareLeaf(ln, opts)
	if err != nil {
		return err
	}
	return t.checkLeafFields(slot, LeafNodeSourceKeyPackage, false, t.leftmostBlankLeaf(), opts, gc, t.getCensus())
}

// checkSupport checks the rules of RFC 9420 section 12.2 that need the
// membership after the commit: the members support new GroupContext
// extensions (section 12.1.7, including those added, the added being
// checked when their leaves enter), and every member that stays supports
// each custom proposal type committed.
func (g *groupCore) checkSupport(p *provisional, list []committedProposal) error {
	var custom []ProposalType
	for _, c := range list {
		if t := c.p.Type(); !isDefaultProposal(t) && !slices.Contains(custom, t) {
			custom = append(custom, t)
		}
	}
	if !p.gceChanged && len(custom) == 0 {
		return nil
	}
	var gcaps *groupCaps
	if p.gceChanged {
		var err error
		if gcaps, err = parseGroupCaps(&LeafValidationOptions{GroupContextExtensions: nonNil(p.extensions)}); err != nil {
			return err
		}
	}
	added := make(map[LeafIndex]bool, len(p.added))
	for _, a := range p.added {
		added[a.leaf] = true
	}
	for i := range p.tree.NumLeaves() {
		ln := p.tree.Leaf(LeafIndex(i))
		if ln == nil || added[LeafIndex(i)] {
			continue
		}
		if rule, reason := gcaps.unsupported(&ln.Capabilities); rule != "" {
			return proposalErr(ruleGroupExtensions, "member at leaf %d: %s (%s)", i, reason, rule)
		}
		for _, t := range custom {
			if !slices.Contains(ln.Capabilities.Proposals, t) {
				return proposalErr(ruleUnsupportedProposal, "member at leaf %d does not support proposal type %v", i, t)
			}
		}
	}
	return nil
}

// ownSender is this client as the sender of a message.
func (g *Group) ownSender() Sender { return Sender{SenderType: SenderTypeMember, LeafIndex: g.self} }

// propose checks, signs, protects and caches p as this client's proposal.
func (g *Group) propose(p *Proposal, updatePriv []byte) (*MLSMessage, error) {
	return g.proposeAs(p, updatePriv, g.cfg.handshakeWireFormat())
}

// proposeAs is propose in wire format wf.
func (g *Group) proposeAs(p *Proposal, updatePriv []byte, wf WireFormat) (*MLSMessage, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	if g.pending != nil {
		return nil, ErrPendingCommit
	}
	if err := g.checkProposal(p, g.ownSender(), true); err != nil {
		return nil, err
	}
	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: g.ownSender(), ContentType: ContentTypeProposal, Proposal: p}
	ac, err := g.pc.Sign(g.id.SigningKey, wf, content)
	if err != nil {
		return nil, err
	}
	enc, err := ac.MarshalBinary()
	if err != nil {
		return nil, err
	}
	msg, err := g.protect(ac)
	if err != nil {
		return nil, err
	}
	sent, err := msg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	g.proposals.add(&cachedProposal{ref: g.suite.MakeProposalRef(enc), proposal: p, sender: g.ownSender(), updatePriv: updatePriv, sent: sent})
	return msg, nil
}

// protect frames ac as the wire format it was signed for.
func (g *Group) protect(ac *AuthenticatedContent) (*MLSMessage, error) {
	if ac.WireFormat == WireFormatPublicMessage {
		m, err := g.pc.ProtectPublic(ac)
		if err != nil {
			return nil, err
		}
		return &MLSMessage{PublicMessage: m}, nil
	}
	m, err := g.pc.ProtectPrivate(ac, g.cfg.padBlock())
	if err != nil {
		return nil, err
	}
	return &MLSMessage{PrivateMessage: m}, nil
}

// ProposeAdd proposes to add the owner of kp and returns the message to
// send. The proposal is cached: this client's next commit includes it.
func (g *Group) ProposeAdd(kp *KeyPackage) (*MLSMessage, error) {
	return g.propose(&Proposal{Add: &AddProposal{KeyPackage: *kp}}, nil)
}

// ProposeRemove proposes to remove the member at leaf.
func (g *Group) ProposeRemove(leaf LeafIndex) (*MLSMessage, error) {
	return g.propose(&Proposal{Remove: &RemoveProposal{Removed: leaf}}, nil)
}

// ProposeUpdate proposes to replace this client's leaf with one with a
// fresh encryption key (RFC 9420 section 12.1.2). A commit by this client
// updates its leaf through the commit's path instead.
func (g *Group) ProposeUpdate() (*MLSMessage, error) {
	return g.proposeUpdate(nil)
}

// ProposeUpdateIdentity is ProposeUpdate with a new identity for this
// client: its leaf takes id's credential and signature key, for example a
// renewed certificate (RFC 9420 section 12.1.2 lets an Update change
// both). The credential validator is consulted for the new credential, by
// this client now and by every member receiving the proposal. The group
// signs with the old key until a commit applies the Update, then with
// id's; from then on, messages signed with the old key are refused. id
// must be of the group's cipher suite. CommitOptions.NewIdentity does the
// same in this client's own commit.
func (g *Group) ProposeUpdateIdentity(id *Identity) (*MLSMessage, error) {
	if err := g.checkNewIdentity(id); err != nil {
		return nil, err
	}
	return g.proposeUpdate(id)
}

// checkNewIdentity checks an identity that is to replace this client's.
func (g *Group) checkNewIdentity(id *Identity) error {
	if id == nil || id.SigningKey == nil {
		return errors.New("mls: no new identity")
	}
	s, err := id.suite()
	if err != nil {
		return err
	}
	if s.ID() != g.suite.ID() {
		return fmt.Errorf("mls: new identity of suite %v in a group of suite %v", s.ID(), g.suite.ID())
	}
	return nil
}

// proposeUpdate proposes an Update of this client's leaf with a fresh
// encryption key and, when newID is set, newID's credential and signature
// key.
func (g *Group) proposeUpdate(newID *Identity) (*MLSMessage, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	signer := g.id
	if newID != nil {
		signer = newID
	}
	priv, pub, err := g.suite.GenerateHPKEKeyPair()
	if err != nil {
		return nil, err
	}
	ln := *g.tree.Leaf(g.self)
	ln.raw = nil
	ln.EncryptionKey = pub
	ln.LeafNodeSource = LeafNodeSourceUpdate
	ln.Lifetime = nil
	ln.ParentHash = nil
	ln.Credential = signer.Credential
	ln.SignatureKey = signer.SigningKey.PublicKey()
	tbs, err := ln.TBS(g.gc.GroupID, g.self)
	if err != nil {
		return nil, err
	}
	if ln.Signature, err = g.suite.SignWithLabel(signer.SigningKey, "LeafNodeTBS", tbs); err != nil {
		return nil, err
	}
	msg, err := g.propose(&Proposal{Update: &UpdateProposal{LeafNode: ln}}, priv)
	if err != nil {
		clear(priv)
		return nil, err
	}
	// propose cached the Update last.
	g.proposals.list[len(g.proposals.list)-1].newID = newID
	return msg, nil
}

// Leave proposes this client's own removal with a SelfRemove proposal
// (draft-ietf-mls-extensions) and returns the message to send, always a
// PublicMessage so that external joiners can include it. Any other member
// commits it, or a client joining by external commit; the commit needs
// nothing from this client, which processes it like any other: Process
// reports NewEpoch.RemovedSelf, and the group is inactive from then on.
// Every member must list ProposalTypeSelfRemove in its capabilities
// (Arbor's KeyPackages do); a member sends at most one per epoch.
func (g *Group) Leave() (*MLSMessage, error) {
	return g.proposeAs(&Proposal{SelfRemove: &SelfRemoveProposal{}}, nil, WireFormatPublicMessage)
}

// ProposePSK proposes to inject the pre-shared key id into the next epoch.
// A nil PSKNonce is filled with a fresh random nonce.
func (g *Group) ProposePSK(id PreSharedKeyID) (*MLSMessage, error) {
	g.fillNonce(&id)
	return g.propose(&Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: id}}, nil)
}

// ProposeGroupContextExtensions proposes to replace the GroupContext
// extensions with exts.
func (g *Group) ProposeGroupContextExtensions(exts Extensions) (*MLSMessage, error) {
	return g.propose(&Proposal{GroupContextExtensions: &GroupContextExtensionsProposal{Extensions: nonNil(exts)}}, nil)
}

// Propose sends any proposal, including one of a custom type (an
// UnknownProposal, which every member must list in its capabilities).
func (g *Group) Propose(p *Proposal) (*MLSMessage, error) {
	if p.Update != nil {
		return nil, errors.New("mls: use ProposeUpdate to propose an Update")
	}
	return g.propose(p, nil)
}

// fillNonce gives id a fresh random psk_nonce of Nh bytes if it has none.
func (g *Group) fillNonce(id *PreSharedKeyID) {
	if id.PSKNonce == nil {
		id.PSKNonce = make([]byte, g.suite.HashSize())
		rand.Read(id.PSKNonce)
	}
}

// lookupPSK returns the PSK lookup of the group: resumption PSKs of its own
// epochs and of the group it resumes, then the configured lookup.
func (g *Group) lookupPSK() PSKLookup {
	own := func(id *PreSharedKeyID) ([]byte, error) {
		if id.PSKType == PSKTypeResumption {
			for _, h := range []*Group{g, g.resumeFrom} {
				if h != nil && bytes.Equal(id.PSKGroupID, h.gc.GroupID) {
					if v, err := h.ResumptionPSK(id.PSKEpoch); err == nil {
						return v, nil
					}
				}
			}
		}
		return nil, errPSKUnavailable
	}
	return firstPSK(own, g.cfg.PSKs)
}

var errPSKUnavailable = errors.New("mls: PSK not available")

// firstPSK returns a lookup that asks each of lookups (nil ones skipped)
// in turn and returns the first PSK found.
func firstPSK(lookups ...PSKLookup) PSKLookup {
	return func(id *PreSharedKeyID) ([]byte, error) {
		for _, f := range lookups {
			if f == nil {
				continue
			}
			if v, err := f(id); err == nil {
				return v, nil
			}
		}
		return nil, errPSKUnavailable
	}
}
