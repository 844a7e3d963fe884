package mls

import (
	"errors"
)

// CommitOptions say what a commit does beyond including the proposals
// cached in the epoch. The zero value commits the cached proposals, or,
// with none, refreshes this client's path.
type CommitOptions struct {
	// Add adds the owners of these KeyPackages; the Welcome returned
	// brings them in.
	Add []*KeyPackage
	// Remove removes the members at these leaves.
	Remove []LeafIndex
	// PSKs injects these pre-shared keys; a nil PSKNonce is filled with a
	// fresh random nonce.
	PSKs []PreSharedKeyID
	// GroupContextExtensions, when not nil, replaces the GroupContext
	// extensions (an empty list removes them all).
	GroupContextExtensions Extensions
	// Proposals are further proposals sent by value, such as custom ones.
	Proposals []Proposal
	// Update refreshes this client's leaf and path even when no proposal
	// requires it, for post-compromise security (RFC 9420 section 12.4).
	Update bool
	// IgnorePending leaves out the proposals cached in the epoch.
	IgnorePending bool
	// RatchetTreeOutOfBand leaves the ratchet tree out of the Welcome's
	// GroupInfo; PendingCommit.RatchetTree then holds it for the new
	// members, to be sent some other way.
	RatchetTreeOutOfBand bool
	// GroupInfo also returns a GroupInfo of the new epoch with
	// external_pub, which lets others join by external commit.
	GroupInfo bool
	// AuthenticatedData is sent with the commit, authenticated but not
	// encrypted.
	AuthenticatedData []byte
	// NewIdentity, when set, gives this client's leaf a new credential
	// and signature key through the commit's path (which the commit then
	// always has), as Group.ProposeUpdateIdentity does by proposal: for
	// example a renewed certificate. Unset, the identity of this client's
	// latest cached Update is used, since the path replaces that Update. The credential validator is
	// consulted for it. The commit itself is signed with the old key, the
	// new leaf and the GroupInfo with the new one; once the commit is
	// merged, the group signs with NewIdentity's key and members refuse
	// the old one.
	NewIdentity *Identity
}

// PendingCommit is a commit this client created: the messages to send,
// and the state of the next epoch, which takes effect with
// Group.MergePendingCommit once the Delivery Service accepted the commit.
type PendingCommit struct {
	// Commit is the commit to send to the group.
	Commit *MLSMessage
	// Welcome brings in the members the commit adds; nil when it adds none.
	Welcome *MLSMessage
	// GroupInfo describes the new epoch to external joiners, when
	// CommitOptions.GroupInfo asked for it.
	GroupInfo *MLSMessage
	// RatchetTree is the ratchet tree of the new epoch, when
	// CommitOptions.RatchetTreeOutOfBand kept it out of the Welcome: a
	// snapshot holding no private key, which shares its nodes with the
	// group's tree until either changes, so that making it costs nothing
	// at any group size. Its MarshalBinary is the wire form to send, its
	// Nodes what JoinOptions.RatchetTree takes.
	RatchetTree *RatchetTree

	commitBytes []byte
	next        *nextEpoch
}

// nextEpoch is the state a commit leads to.
type nextEpoch struct {
	tree    *RatchetTree
	gc      GroupContext
	gcBytes []byte
	secrets *EpochSecrets
	interim []byte
	tag     []byte
	change  *EpochChange
	reinit  *ReInitProposal
	// newID is this client's identity in the new epoch, when the commit
	// changes it.
	newID *Identity
}

// erase zeroes the secrets of an epoch that will not be used.
func (n *nextEpoch) erase() {
	if n.secrets != nil {
		n.secrets.Erase()
	}
}

// EpochChange is what a commit changed: the new epoch, who joined, left
// or updated their leaf.
type EpochChange struct {
	// Epoch is the new epoch.
	Epoch uint64
	// Committer sent the commit: a member, or a new member joining by
	// external commit (sender type new_member_commit).
	Committer Sender
	// CommitterLeaf is the committer's leaf in the new epoch.
	CommitterLeaf LeafIndex
	// Added, Removed and Updated list the members the commit added (as in
	// the new epoch), removed (as they were) and whose leaves Update
	// proposals replaced. A member joining by external commit is in
	// Added; the committer's own path is not an Update.
	Added   []Member
	Removed []Member
	Updated []Member
	// RemovedSelf reports that this client was removed: the group is
	// inactive from now on.
	RemovedSelf bool
	// PSKs are the pre-shared keys injected.
	PSKs []PreSharedKeyID
	// GroupContextExtensions reports that the GroupContext extensions were
	// replaced.
	GroupContextExtensions bool
	// ReInit, when set, closed the group: no more messages may be sent in
	// it, and a new group with these parameters takes over (RFC 9420
	// section 11.2).
	ReInit *ReInitProposal
}

// epochChange describes the commit whose provisional state is p, from
// committer at leaf committerLeaf.
func epochChange(p *provisional, epoch uint64, committer Sender, committerLeaf LeafIndex) *EpochChange {
	c := &EpochChange{
		Epoch: epoch, Committer: committer, CommitterLeaf: committerLeaf,
		Removed: p.removed, RemovedSelf: p.selfRemoved, PSKs: p.psks,
		GroupContextExtensions: p.gceChanged, ReInit: p.reinit,
	}
	for _, a := range p.added {
		if m, ok := memberAt(p.tree, a.leaf); ok {
			c.Added = append(c.Added, m)
		}
	}
	if committer.SenderType == SenderTypeNewMemberCommit {
		if m, ok := memberAt(p.tree, committerLeaf); ok {
			c.Added = append(c.Added, m)
		}
	}
	for _, i := range p.updated {
		if m, ok := memberAt(p.tree, i); ok {
			c.Updated = append(c.Updated, m)
		}
	}
	return c
}

// Commit creates a commit (RFC 9420 section 12.4.1) of the proposals
// cached in the epoch (unless opts.IgnorePending) followed by those opts
// asks for, with a path when one is required or asked for. It returns the
// commit to send, the Welcome for the members added and, if asked, a
// GroupInfo. The group does not change until MergePendingCommit, to be
// called once the Delivery Service accepted the commit; if another
// member's commit wins instead, DiscardPendingCommit drops this one (and
// Process of that commit does so too).
func (g *Group) Commit(opts CommitOptions) (*PendingCommit, error) {
	if err := g.checkActive(); err != nil {
		return nil, err
	}
	if g.pending != nil {
		return nil, ErrPendingCommit
	}
	self := g.ownSender()
	byValue, err := g.proposalsByValue(&opts)
	if err != nil {
		return nil, err
	}
	var list []committedProposal
	forcePath := opts.Update || opts.NewIdentity != nil
	if opts.NewIdentity != nil {
		if err := g.checkNewIdentity(opts.NewIdentity); err != nil {
			return nil, err
		}
	}
	if !opts.IgnorePending {
		cached, ownUpdate := g.selectCached(byValue)
		list = cached
		forcePath = forcePath || ownUpdate
		if ownUpdate && opts.NewIdentity == nil {
			// The path replaces this client's cached Updates: it carries
			// the new identity of the latest, if that changed it.
			opts.NewIdentity = g.ownUpdateIdentity()
		}
	}
	list = append(list, byValue...)
	if list, err = g.policySelect(list); err != nil {
		return nil, err
	}
	if err := g.validateProposalList(list, self); err != nil {
		return nil, err
	}
	prov, err := g.applyProposals(list)
	if err != nil {
		return nil, err
	}
	pending := false
	defer func() {
		if !pending {
			erasePrivateKeys(prov.tree, g.tree)
		}
	}()
	commit := &Commit{Proposals: make([]ProposalOrRef, len(list))}
	for i, c := range list {
		if c.ref != nil {
			commit.Proposals[i] = ProposalOrRef{Reference: c.ref}
		} else {
			commit.Proposals[i] = ProposalOrRef{Proposal: c.p}
		}
	}

	var path *PendingUpdatePath
	signer := g.id // of the new leaf and the GroupInfo
	if forcePath || pathRequired(list) {
		template := prov.tree.Leaf(g.self)
		if opts.NewIdentity != nil {
			if template, err = g.rotatedLeaf(prov, opts.NewIdentity); err != nil {
				return nil, err
			}
			signer = opts.NewIdentity
		}
		if path, err = prov.tree.GenerateUpdatePath(g.self, g.gc.GroupID, template, signer.SigningKey); err != nil {
			return nil, err
		}
		defer path.Wipe()
	}
	provGC := g.provisionalContext(prov)
	var commitSecret []byte
	if path != nil {
		provBytes, err := provGC.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if commit.Path, err = path.Encrypt(provBytes, prov.addedLeaves()); err != nil {
			return nil, err
		}
		commitSecret = path.CommitSecret()
		defer clear(commitSecret)
	}

	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: self, AuthenticatedData: opts.AuthenticatedData, ContentType: ContentTypeCommit, Commit: commit}
	// Sign encodes the commit once; the signature and the transcript
	// hash cover those bytes.
	ac, err := g.pc.Sign(g.id.SigningKey, g.cfg.handshakeWireFormat(), content)
	if err != nil {
		return nil, err
	}
	next, err := g.nextEpoch(prov, provGC, ac, g.secrets.InitSecret(), commitSecret)
	if err != nil {
		return nil, err
	}
	ac.Auth.ConfirmationTag = next.tag
	if opts.NewIdentity != nil {
		next.newID = opts.NewIdentity
	}
	pc := &PendingCommit{next: next}
	if err := g.finishCommit(pc, ac, prov, path, &opts); err != nil {
		next.erase()
		return nil, err
	}
	next.change = epochChange(prov, next.gc.Epoch, self, g.self)
	g.pending, pending = pc, true
	return pc, nil
}

// finishCommit protects the commit and builds the Welcome and GroupInfo.
func (g *Group) finishCommit(pc *PendingCommit, ac *AuthenticatedContent, prov *provisional, path *PendingUpdatePath, opts *CommitOptions) error {
	next := pc.next
	var err error
	if pc.Commit, err = g.protect(ac); err != nil {
		return err
	}
	if pc.commitBytes, err = pc.Commit.MarshalBinary(); err != nil {
		return err
	}
	if len(prov.added) > 0 {
		gi, err := g.groupInfo(next.signer(g), next.tree, &next.gc, next.tag, next.secrets, opts.RatchetTreeOutOfBand, false)
		if err != nil {
			return err
		}
		recipients := make([]WelcomeRecipient, len(prov.added))
		for i, a := range prov.added {
			recipients[i].KeyPackage = a.kp
			if path != nil {
				recipients[i].PathSecret = path.PathSecret(a.leaf)
			}
		}
		w, err := SealWelcome(gi, next.secrets, prov.psks, recipients)
		for _, r := range recipients {
			clear(r.PathSecret)
		}
		if err != nil {
			return err
		}
		pc.Welcome = &MLSMessage{Welcome: w}
	}
	next.secrets.EraseJoinerSecrets()
	if opts.GroupInfo {
		gi, err := g.groupInfo(next.signer(g), next.tree, &next.gc, next.tag, next.secrets, opts.RatchetTreeOutOfBand, true)
		if err != nil {
			return err
		}
		pc.GroupInfo = &MLSMessage{GroupInfo: gi}
	}
	if opts.RatchetTreeOutOfBand {
		pc.RatchetTree = next.tree.publicClone()
	}
	return nil
}

// ownUpdateIdentity returns the new identity of this client's latest
// cached Update, or nil if that Update keeps the identity.
func (g *Group) ownUpdateIdentity() *Identity {
	for i := len(g.proposals.list) - 1; i >= 0; i-- {
		if p := g.proposals.list[i]; p.proposal.Update != nil && p.sender == g.ownSender() {
			return p.newID
		}
	}
	return nil
}

// signer returns the identity of this client in the epoch n leads to.
func (n *nextEpoch) signer(g *Group) *Identity {
	if n.newID != nil {
		return n.newID
	}
	return g.id
}

// rotatedLeaf returns the template of this client's path leaf with the
// credential and signature key of id, after the credential validator
// accepted them as an update of the current credential (RFC 9420 section
// 5.3.1).
func (g *Group) rotatedLeaf(prov *provisional, id *Identity) (*LeafNode, error) {
	ln := *prov.tree.Leaf(g.self)
	prev := ln.Credential
	ln.raw = nil
	ln.Credential = id.Credential
	ln.SignatureKey = id.SigningKey.PublicKey()
	opts := g.leafOpts(prov.extensions, CredentialEventUpdate, &prev, false)
	if err := opts.ValidateCredential(&ln.Credential, ln.SignatureKey); err != nil {
		return nil, &ValidationError{Rule: "credential", Reason: err.Error(), Err: ErrCredential, Cause: err}
	}
	return &ln, nil
}

// provisionalContext returns the provisional GroupContext of a commit
// (RFC 9420 section 12.4.1): the new epoch, tree hash and extensions with
// the old confirmed transcript hash.
func (g *groupCore) provisionalContext(p *provisional) *GroupContext {
	return &GroupContext{
		Version:                 g.gc.Version,
		CipherSuite:             g.gc.CipherSuite,
		GroupID:                 g.gc.GroupID,
		Epoch:                   g.gc.Epoch + 1,
		TreeHash:                p.tree.TreeHash(),
		ConfirmedTranscriptHash: g.gc.ConfirmedTranscriptHash,
		Extensions:              p.extensions,
	}
}

// nextEpoch runs the key schedule of the commit ac (RFC 9420 sections 8
// and 8.2): the confirmed transcript hash, the new GroupContext, the PSKs,
// the epoch secrets from initSecret and commitSecret (nil: zero), the
// confirmation tag and the interim transcript hash.
func (g *Group) nextEpoch(prov *provisional, provGC *GroupContext, ac *AuthenticatedContent, initSecret, commitSecret []byte) (*nextEpoch, error) {
	s := g.suite
	n := &nextEpoch{tree: prov.tree, reinit: prov.reinit}
	var err error
	if n.gc, n.gcBytes, err = g.nextContext(provGC, ac); err != nil {
		return nil, err
	}
	confirmed := n.gc.ConfirmedTranscriptHash
	pskSecret, err := ResolvePSKSecret(s, prov.psks, g.lookupPSK())
	if err != nil {
		return nil, err
	}
	defer clear(pskSecret)
	if n.secrets, err = DeriveEpochSecrets(s, initSecret, commitSecret, pskSecret, n.gcBytes); err != nil {
		return nil, err
	}
	n.tag = ConfirmationTag(s, n.secrets.ConfirmationKey(), confirmed)
	if n.interim, err = InterimTranscriptHash(s, confirmed, n.tag); err != nil {
		n.erase()
		return nil, err
	}
	return n, nil
}

// nextContext returns the GroupContext of the epoch that the commit ac
// starts, and its encoding: the provisional GroupContext provGC with the
// confirmed transcript hash that covers ac (RFC 9420 section 8.2).
func (g *groupCore) nextContext(provGC *GroupContext, ac *AuthenticatedContent) (GroupContext, []byte, error) {
	confirmed, err := ConfirmedTranscriptHash(g.suite, g.interim, ac)
	if err != nil {
		return GroupContext{}, nil, err
	}
	gc := *provGC
	gc.ConfirmedTranscriptHash = confirmed
	enc, err := gc.MarshalBinary()
	if err != nil {
		return GroupContext{}, nil, err
	}
	return gc, enc, nil
}

// proposalsByValue turns the proposals opts asks for into a commit's
// by-value entries, checked as this client's own.
func (g *Group) proposalsByValue(opts *CommitOptions) ([]committedProposal, error) {
	var ps []*Proposal
	for _, kp := range opts.Add {
		if kp == nil {
			return nil, errors.New("mls: nil KeyPackage to add")
		}
		ps = append(ps, &Proposal{Add: &AddProposal{KeyPackage: *kp}})
	}
	for _, leaf := range opts.Remove {
		ps = append(ps, &Proposal{Remove: &RemoveProposal{Removed: leaf}})
	}
	for _, id := range opts.PSKs {
		g.fillNonce(&id)
		ps = append(ps, &Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: id}})
	}
	if opts.GroupContextExtensions != nil {
		ps = append(ps, &Proposal{GroupContextExtensions: &GroupContextExtensionsProposal{Extensions: opts.GroupContextExtensions}})
	}
	for i := range opts.Proposals {
		p := opts.Proposals[i]
		if p.Update != nil {
			return nil, errors.New("mls: a commit cannot carry the committer's Update; use CommitOptions.Update")
		}
		ps = append(ps, &p)
	}
	self := g.ownSender()
	out := make([]committedProposal, len(ps))
	for i, p := range ps {
		out[i] = committedProposal{p: p, sender: self}
	}
	// KeyPackages, two signatures each, are checked on all cores; the
	// other proposals read the tree's lazily built census, one by one.
	err := forEachParallel(len(opts.Add), parallelSealMin, func(i int) error { return g.checkProposal(ps[i], self, true) })
	if err != nil {
		return nil, err
	}
	for _, p := range ps[len(opts.Add):] {
		if err := g.checkProposal(p, self, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// selectCached picks the cached proposals a commit includes by reference,
// alongside byValue: as many as make a valid list (RFC 9420 section 12.4).
// Where cached proposals conflict, a Remove wins over Updates of the same
// leaf and the latest Update over earlier ones (section 12.2); a ReInit
// is left for a later epoch when there is anything else to commit. This
// client's own Updates are never included: ownUpdate reports one, and the
// commit's path then replaces the leaf instead.
func (g *Group) selectCached(byValue []committedProposal) (list []committedProposal, ownUpdate bool) {
	touched := make(map[LeafIndex]bool)
	addKeys := make(map[string]bool)
	psks := make(map[string]bool)
	gce, reinit := false, false
	for _, c := range byValue {
		switch p := c.p; {
		case p.Remove != nil:
			touched[p.Remove.Removed] = true
		case p.Add != nil:
			addKeys[string(p.Add.KeyPackage.LeafNode.SignatureKey)] = true
		case p.PreSharedKey != nil:
			enc, _ := p.PreSharedKey.PSK.MarshalBinary()
			psks[string(enc)] = true
		case p.GroupContextExtensions != nil:
			gce = true
		case p.ReInit != nil:
			reinit = true
		}
	}
	cache := g.proposals.list
	take := make([]bool, len(cache))
	if reinit {
		return nil, false
	}
	removedKeys := make(map[string]bool)
	// SelfRemoves first: a Remove of the same leaf is then left out, as
	// draft-ietf-mls-extensions makes it invalid.
	for i, c := range cache {
		if c.proposal.SelfRemove != nil && c.sender.LeafIndex != g.self && !touched[c.sender.LeafIndex] {
			if ln := g.tree.Leaf(c.sender.LeafIndex); ln != nil {
				take[i], touched[c.sender.LeafIndex] = true, true
				removedKeys[string(ln.SignatureKey)] = true
			}
		}
	}
	for i, c := range cache {
		if r := c.proposal.Remove; r != nil && r.Removed != g.self && !touched[r.Removed] {
			if ln := g.tree.Leaf(r.Removed); ln != nil {
				take[i], touched[r.Removed] = true, true
				removedKeys[string(ln.SignatureKey)] = true
			}
		}
	}
	census := g.tree.getCensus()
	for i := len(cache) - 1; i >= 0; i-- {
		c := cache[i]
		switch p := c.proposal; {
		case p.Update != nil:
			if c.sender.LeafIndex == g.self {
				ownUpdate = true
			} else if !touched[c.sender.LeafIndex] {
				take[i], touched[c.sender.LeafIndex] = true, true
			}
		case p.GroupContextExtensions != nil:
			if !gce {
				take[i], gce = true, true
			}
		}
	}
	firstReInit := -1
	for i, c := range cache {
		switch p := c.proposal; {
		case p.Add != nil:
			key := string(p.Add.KeyPackage.LeafNode.SignatureKey)
			if !addKeys[key] && (getBytes(&census.sigKeys, []byte(key)) == 0 || removedKeys[key]) {
				take[i], addKeys[key] = true, true
			}
		case p.PreSharedKey != nil:
			enc, err := p.PreSharedKey.PSK.MarshalBinary()
			if err == nil && !psks[string(enc)] {
				take[i], psks[string(enc)] = true, true
			}
		case p.ReInit != nil:
			if firstReInit < 0 {
				firstReInit = i
			}
		case p.Unknown != nil:
			take[i] = true
		}
	}
	for i, c := range cache {
		if take[i] {
			list = append(list, committedProposal{p: c.proposal, sender: c.sender, ref: c.ref, updatePriv: c.updatePriv})
		}
	}
	if len(list) == 0 && len(byValue) == 0 && firstReInit >= 0 {
		c := cache[firstReInit]
		list = append(list, committedProposal{p: c.proposal, sender: c.sender, ref: c.ref})
	}
	return list, ownUpdate
}

// MergePendingCommit makes the epoch of this client's pending commit the
// current one, once the Delivery Service has accepted the commit, and
// returns what changed. Receiving the commit back through Process merges
// it too.
func (g *Group) MergePendingCommit() (*EpochChange, error) {
	if g.pending == nil {
		return nil, ErrNoPendingCommit
	}
	n := g.pending.next
	if err := g.advance(n.tree, &n.gc, n.gcBytes, n.secrets, n.interim, n.tag); err != nil {
		return nil, err
	}
	g.pending = nil
	if n.newID != nil {
		g.id = n.newID
	}
	if n.reinit != nil {
		g.state, g.reinit = stateReInit, n.reinit
	}
	return n.change, nil
}

// DiscardPendingCommit drops this client's pending commit, when the
// Delivery Service rejected it or another commit of the epoch won.
func (g *Group) DiscardPendingCommit() error {
	if g.pending == nil {
		return ErrNoPendingCommit
	}
	g.discardPending()
	return nil
}

// HasPendingCommit reports whether a commit of this client awaits
// MergePendingCommit or DiscardPendingCommit.
func (g *Group) HasPendingCommit() bool { return g.pending != nil }
