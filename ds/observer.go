package ds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/arbormls/mls"
)

// This file holds the verified mode of a group: the server follows it
// with an mls.PublicGroup (no member secrets) and refuses every
// handshake a member would refuse, before storing or forwarding it. The
// member set is the verified tree's. See README, "Delivery Service
// modes".

// refuse answers a handshake message the observer refused: 400 with the
// rule broken (a *mls.ValidationError names it and its RFC section), or
// 409 for another epoch.
func refuse(what string, err error) error {
	if errors.Is(err, mls.ErrWrongEpoch) {
		return fail(http.StatusConflict, what+": "+err.Error())
	}
	return fail(http.StatusBadRequest, what+" refused: "+err.Error())
}

// loadObserver returns the observer of a verified group with its
// version, or nil when the group is not verified (an unverified group,
// or none yet).
func (s *Server) loadObserver(ctx context.Context, gid []byte) (*mls.PublicGroup, uint64, error) {
	state, version, err := s.Store.ObserverState(ctx, gid)
	if errors.Is(err, ErrNotFound) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, err
	}
	o, err := mls.LoadPublicGroup(state, nil)
	if err != nil {
		return nil, 0, err
	}
	return o, version, nil
}

// checkSender refuses a member's message whose sender leaf does not hold
// the authenticated client's signature key in the verified tree.
func (s *Server) checkSender(r *request, o *mls.PublicGroup, sender mls.Sender) error {
	if sender.SenderType != mls.SenderTypeMember {
		return nil
	}
	m, ok := o.Member(sender.LeafIndex)
	if !ok {
		return fail(http.StatusForbidden, "the message's sender leaf is blank")
	}
	c, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return err
	}
	if !bytes.Equal(m.SignatureKey, c.SignatureKey) {
		return fail(http.StatusForbidden, "the message's sender leaf is not the client's")
	}
	return nil
}

// createVerified starts following a group created by its first commit
// (epoch 0): the bundle's GroupInfo of epoch 1, with its ratchet tree,
// validated as a joiner validates it and signed by the committer, is the
// observer's start. The creating commit itself, of an epoch the server
// never saw, is checked only as far as the result is.
func (s *Server) createVerified(r *request, c *Commit, groupInfo []byte) error {
	if groupInfo == nil {
		return fail(http.StatusBadRequest, "a verified group is created with the GroupInfo of epoch 1 and its ratchet tree")
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(groupInfo); err != nil || m.GroupInfo == nil {
		return fail(http.StatusBadRequest, "group_info is not a GroupInfo")
	}
	gc := &m.GroupInfo.GroupContext
	if !bytes.Equal(gc.GroupID, c.GroupID) || gc.Epoch != 1 {
		return fail(http.StatusBadRequest, "group_info is not of the group's next epoch")
	}
	o, err := mls.NewPublicGroup(&m, nil, nil)
	if err != nil {
		return fail(http.StatusBadRequest, "group_info refused: "+err.Error())
	}
	cl, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return err
	}
	signer, ok := o.Member(m.GroupInfo.Signer)
	if !ok || !bytes.Equal(signer.SignatureKey, cl.SignatureKey) {
		return fail(http.StatusBadRequest, "group_info is not signed by the committer")
	}
	joined, err := s.clientsOf(r.Context(), o.Members())
	if err != nil {
		return err
	}
	for _, id := range joined {
		if id != r.client {
			c.NewMembers = append(c.NewMembers, id)
		}
	}
	if err := s.checkWelcome(r, c); err != nil {
		return err
	}
	if err := s.keepState(c, o); err != nil {
		return err
	}
	c.GroupInfo = groupInfo
	return nil
}

// keepState puts in c the observer's state and tree of the new epoch.
func (s *Server) keepState(c *Commit, o *mls.PublicGroup) error {
	var err error
	if c.Observer, err = o.MarshalBinary(); err != nil {
		return err
	}
	c.Tree, err = o.RatchetTree().MarshalBinary()
	c.KeepTrees = s.TreeEpochs
	return err
}

// commitVerified checks a commit of a verified group with the group's
// observer o, in its epoch: the observer applies every rule a member
// applies that needs no secret (mls.PublicGroup), the committer is the
// authenticated client, a GroupInfo is the new epoch's as tracked, and
// the Welcome goes only to clients the commit adds. It fills in c the
// member changes of the verified tree and the observer's new state.
func (s *Server) commitVerified(r *request, o *mls.PublicGroup, c *Commit, msg *mls.MLSMessage, groupInfo []byte) error {
	if msg.PublicMessage == nil {
		return fail(http.StatusBadRequest, "the group is verified: its handshakes must be PublicMessages")
	}
	if c.Epoch != o.Epoch() {
		return &EpochConflictError{Current: o.Epoch()}
	}
	cl, err := s.Store.Client(r.Context(), r.client)
	if err != nil {
		return err
	}
	sender := msg.PublicMessage.Content.Sender
	if c.External {
		path := msg.PublicMessage.Content.Commit.Path
		if path == nil || !bytes.Equal(path.LeafNode.SignatureKey, cl.SignatureKey) {
			return fail(http.StatusForbidden, "the external commit's leaf is not the client's signature key")
		}
	} else if err := s.checkSender(r, o, sender); err != nil {
		return err
	}
	// The leaves whose signature key a commit may change: the
	// committer's (its path) and those of the Updates it may commit.
	changed := map[mls.LeafIndex][]byte{}
	if !c.External {
		changed[sender.LeafIndex] = cl.SignatureKey
	}
	for _, p := range o.PendingProposals() {
		if p.Proposal.Update != nil {
			if m, ok := o.Member(p.Sender.LeafIndex); ok {
				changed[p.Sender.LeafIndex] = m.SignatureKey
			}
		}
	}
	got, err := o.Process(msg)
	if err != nil {
		return refuse("commit", err)
	}
	ch := got.NewEpoch
	var added, removed []mls.Member
	for _, m := range ch.Added {
		if !c.External || m.Leaf != ch.CommitterLeaf {
			added = append(added, m)
		}
	}
	removed = append(removed, ch.Removed...)
	for leaf, oldKey := range changed {
		if m, ok := o.Member(leaf); ok && !bytes.Equal(m.SignatureKey, oldKey) {
			added = append(added, m)
			removed = append(removed, mls.Member{Leaf: leaf, SignatureKey: oldKey})
		}
	}
	if c.NewMembers, err = s.clientsOf(r.Context(), added); err != nil {
		return err
	}
	if c.Removed, err = s.clientsOf(r.Context(), removed); err != nil {
		return err
	}
	if err := s.checkWelcome(r, c); err != nil {
		return err
	}
	if groupInfo != nil {
		var m mls.MLSMessage
		if err := m.UnmarshalBinary(groupInfo); err != nil || m.GroupInfo == nil {
			return fail(http.StatusBadRequest, "group_info is not a GroupInfo")
		}
		if err := o.VerifyGroupInfo(&m); err != nil {
			return fail(http.StatusBadRequest, "group_info is not the new epoch's: "+err.Error())
		}
		c.GroupInfo = groupInfo
	}
	return s.keepState(c, o)
}

// checkWelcome checks that every client a Welcome names is one the commit
// adds to the verified tree (c.NewMembers), so that a Welcome fills no
// inbox of a client outside the group.
func (s *Server) checkWelcome(r *request, c *Commit) error {
	if c.Welcome == nil {
		return nil
	}
	owners, err := s.welcomeOwners(r, c.Welcome)
	if err != nil {
		return err
	}
	for _, owner := range owners {
		if !slices.Contains(c.NewMembers, owner) {
			return fail(http.StatusBadRequest, "welcome names a client the commit does not add")
		}
	}
	return nil
}

// welcomeOwners returns the clients whose KeyPackages a Welcome names,
// one store query per new member.
func (s *Server) welcomeOwners(r *request, welcome []byte) ([]string, error) {
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(welcome); err != nil || m.Welcome == nil {
		return nil, fail(http.StatusBadRequest, "welcome is not a Welcome")
	}
	owners := make([]string, 0, len(m.Welcome.Secrets))
	for _, sec := range m.Welcome.Secrets {
		owner, err := s.Store.KeyPackageOwner(r.Context(), sec.NewMember)
		if errors.Is(err, ErrNotFound) {
			return nil, fail(http.StatusBadRequest, "welcome names a KeyPackage this server does not know")
		} else if err != nil {
			return nil, err
		}
		owners = append(owners, owner)
	}
	return owners, nil
}

func (s *Server) clientsOf(ctx context.Context, members []mls.Member) ([]string, error) {
	var out []string
	for _, m := range members {
		id, err := s.Store.ClientByKey(ctx, m.SignatureKey)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// proposalVerified has the observer of a verified group check and cache
// a PublicMessage proposal, and stores its new state, before the
// proposal is forwarded: a commit may then include it by reference. A
// concurrent change of the state (another proposal, a commit) makes it
// start again from the newer state.
func (s *Server) proposalVerified(r *request, gid []byte, msg *mls.MLSMessage) error {
	for range 8 {
		o, version, err := s.loadObserver(r.Context(), gid)
		if err != nil || o == nil {
			return err
		}
		if msg.PublicMessage == nil {
			return fail(http.StatusBadRequest, "the group is verified: its proposals must be PublicMessages")
		}
		if err := s.checkSender(r, o, msg.PublicMessage.Content.Sender); err != nil {
			return err
		}
		if _, err := o.Process(msg); err != nil {
			return refuse("proposal", err)
		}
		state, err := o.MarshalBinary()
		if err != nil {
			return err
		}
		ok, err := s.Store.PutObserverState(r.Context(), gid, version, state)
		if err != nil || ok {
			return err
		}
	}
	return fail(http.StatusServiceUnavailable, "the group changed too often meanwhile; send the proposal again")
}

// reset is the way back of an unverified group from commits its members
// could not process (RFC 9750 section 5.3), which the server could not
// check: a member rejoins by an external commit (a resync) against the
// group's last GroupInfo, of an epoch before the current one because the
// commits since came without one. The server checks the external commit
// with an observer started from that GroupInfo, as it checks any commit
// of a verified group, and the GroupInfo the member sends with it against
// the result; the commit then replaces those after the GroupInfo's epoch,
// and the member set becomes the verified tree's. Every member receives
// it: those stuck at that epoch process it, the others rejoin from the
// new GroupInfo. A commit that carries its GroupInfo leaves nothing to
// reset.
func (s *Server) reset(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	var b CommitBundle
	if err := json.Unmarshal(r.body, &b); err != nil {
		return fail(http.StatusBadRequest, "bad JSON")
	}
	var m mls.MLSMessage
	if err := m.UnmarshalBinary(b.Commit); err != nil || m.PublicMessage == nil || m.PublicMessage.Content.ContentType != mls.ContentTypeCommit ||
		m.PublicMessage.Content.Sender.SenderType != mls.SenderTypeNewMemberCommit || !bytes.Equal(m.PublicMessage.Content.GroupID, gid) {
		return fail(http.StatusBadRequest, "a reset is an external commit of the group, as a PublicMessage")
	}
	if o, _, err := s.loadObserver(r.Context(), gid); err != nil {
		return err
	} else if o != nil {
		return fail(http.StatusBadRequest, "the group is verified: the server refused every commit its members cannot process, there is nothing to reset")
	}
	if ok, err := s.Store.IsMember(r.Context(), gid, r.client); err != nil {
		return err
	} else if !ok {
		return ErrNotMember
	}
	cur, err := s.Store.Epoch(r.Context(), gid)
	if err != nil {
		return err
	}
	giData, err := s.Store.LatestGroupInfo(r.Context(), gid)
	if errors.Is(err, ErrNotFound) {
		return fail(http.StatusBadRequest, "the group has no GroupInfo to reset to")
	} else if err != nil {
		return err
	}
	var gm mls.MLSMessage
	if err := gm.UnmarshalBinary(giData); err != nil || gm.GroupInfo == nil {
		return fmt.Errorf("mls: ds: stored GroupInfo of a group does not parse: %v", err)
	}
	epoch := m.PublicMessage.Content.Epoch
	if gm.GroupInfo.GroupContext.Epoch != epoch {
		return fail(http.StatusConflict, fmt.Sprintf("a reset commits against the group's last GroupInfo, of epoch %d", gm.GroupInfo.GroupContext.Epoch))
	}
	if epoch >= cur {
		return fail(http.StatusBadRequest, "the group's last GroupInfo is of its current epoch: join by an ordinary external commit")
	}
	o, err := mls.NewPublicGroup(&gm, nil, nil)
	if err != nil {
		return fail(http.StatusBadRequest, "the group's last GroupInfo: "+err.Error())
	}
	c := &Commit{GroupID: gid, Epoch: epoch, Sender: r.client, External: true, Reset: true, Commit: b.Commit}
	if b.GroupInfo == nil {
		return fail(http.StatusBadRequest, "a reset carries the GroupInfo of the epoch it starts, for the other members to rejoin from")
	}
	if err := s.commitVerified(r, o, c, &m, b.GroupInfo); err != nil {
		return err
	}
	// The member set is the verified tree's, with each member's leaf.
	c.Observer, c.Removed, c.NewMembers = nil, nil, nil
	c.Leaves = map[string]uint32{}
	for _, mem := range o.Members() {
		id, err := s.Store.ClientByKey(r.Context(), mem.SignatureKey)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		c.Leaves[id] = uint32(mem.Leaf)
	}
	return s.accept(w, r, c)
}

// ratchetTree answers GET /v1/groups/{group}/tree?epoch=N: the ratchet
// tree of a verified group in epoch N, the one the server verified, in
// its wire form (the ratchet_tree extension's content), so that Welcomes
// and GroupInfos need not carry it (draft-ietf-mls-ratchet-tree-options,
// trees out of band): a joiner checks it against the GroupInfo's tree
// hash like any tree. Members only (a Welcome's recipients are members
// once the commit is accepted). The trees of the last Server.TreeEpochs
// epochs are kept; for an older one the answer is 404, and a joiner that
// came that late joins by external commit.
func (s *Server) ratchetTree(w http.ResponseWriter, r *request) error {
	gid, err := groupID(r)
	if err != nil {
		return err
	}
	epoch, err := strconv.ParseUint(r.URL.Query().Get("epoch"), 10, 64)
	if err != nil {
		return fail(http.StatusBadRequest, "epoch must be a number")
	}
	if ok, err := s.Store.IsMember(r.Context(), gid, r.client); err != nil {
		return err
	} else if !ok {
		return ErrNotMember
	}
	data, err := s.Store.RatchetTree(r.Context(), gid, epoch)
	if errors.Is(err, ErrNotFound) {
		return fail(http.StatusNotFound, "the server keeps no tree of the group in that epoch (an unverified group, or an epoch long over)")
	} else if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(data)
	return nil
}
