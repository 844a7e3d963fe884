package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	pb "github.com/arbormls/mls/interop/proto"
)

// The RPCs that need a member's group state. Each group operation runs
// under its state's mutex (stateTable.use); a Group is not safe for
// concurrent use, and the runner never sends two RPCs for one state at once
// anyway.

// config returns the policy of a group created or joined through the
// server: encrypt_handshake chooses PrivateMessage or PublicMessage for
// handshake messages, and external PSKs come from the server's PSK table.
func (s *Server) config(encryptHandshake bool) *mls.Config {
	return &mls.Config{PublicHandshake: !encryptHandshake, PSKs: s.lookupPSK}
}

// lookupPSK answers the external PSKs stored by StorePSK; a group answers
// its own resumption PSKs itself.
func (s *Server) lookupPSK(id *mls.PreSharedKeyID) ([]byte, error) {
	if id.PSKType != mls.PSKTypeExternal {
		return nil, errors.New("mls: unknown resumption PSK")
	}
	psk, ok := s.psks.get(id.PSKID)
	if !ok {
		return nil, errors.New("mls: unknown external PSK")
	}
	return psk, nil
}

// withGroup runs f on the group of the state id, which must be a member's.
func (s *Server) withGroup(id uint32, f func(c *clientState) error) error {
	return s.states.use(id, func(c *clientState) error {
		if c.group == nil || c.reinit {
			return status.Errorf(codes.FailedPrecondition, "mls: state %d is not a group member's", id)
		}
		return f(c)
	})
}

// addGroup keeps g under a new state ID.
func (s *Server) addGroup(id *mls.Identity, g *mls.Group, cfg *mls.Config) (uint32, error) {
	return s.states.add(&clientState{identity: id, group: g, cfg: cfg})
}

// takeTransaction returns the identity and KeyPackage of the transaction
// id without removing it; the caller removes it once the join succeeded,
// so that a bad Welcome does not burn the KeyPackage.
func (s *Server) takeTransaction(id uint32) (*mls.Identity, *mls.KeyPackageBundle, error) {
	var ident *mls.Identity
	var kp *mls.KeyPackageBundle
	err := s.states.use(id, func(c *clientState) error {
		if c.keyPackage == nil || c.reinit {
			return status.Errorf(codes.FailedPrecondition, "mls: state %d is not a KeyPackage transaction", id)
		}
		ident, kp = c.identity, c.keyPackage
		return nil
	})
	return ident, kp, err
}

// CreateGroup creates a group with the harness's group ID, suite and
// handshake mode, whose only member has a basic credential for identity.
func (s *Server) CreateGroup(_ context.Context, req *pb.CreateGroupRequest) (*pb.CreateGroupResponse, error) {
	id, err := newIdentity(req.GetCipherSuite(), req.GetIdentity())
	if err != nil {
		return nil, err
	}
	cfg := s.config(req.GetEncryptHandshake())
	g, err := mls.CreateGroup(id, cfg, &mls.CreateOptions{GroupID: bytes.Clone(req.GetGroupId())})
	if err != nil {
		return nil, failed("creating the group", err)
	}
	stateID, err := s.addGroup(id, g, cfg)
	if err != nil {
		return nil, err
	}
	return &pb.CreateGroupResponse{StateId: stateID}, nil
}

// JoinGroup joins with the Welcome sent for the KeyPackage of a
// transaction, and the ratchet tree when it travelled out of band. The
// transaction is forgotten once the join succeeded (its keys now belong to
// the group, which gets a new ID).
func (s *Server) JoinGroup(_ context.Context, req *pb.JoinGroupRequest) (*pb.JoinGroupResponse, error) {
	ident, kp, err := s.takeTransaction(req.GetTransactionId())
	if err != nil {
		return nil, err
	}
	welcome, err := parseMessage("Welcome", req.GetWelcome())
	if err != nil {
		return nil, err
	}
	tree, err := parseTree(req.GetRatchetTree())
	if err != nil {
		return nil, err
	}
	cfg := s.config(req.GetEncryptHandshake())
	g, err := mls.Join(ident, welcome, kp, cfg, &mls.JoinOptions{RatchetTree: tree})
	if err != nil {
		return nil, failed("joining", err)
	}
	stateID, err := s.addGroup(ident, g, cfg)
	if err != nil {
		return nil, err
	}
	s.states.remove(req.GetTransactionId())
	return &pb.JoinGroupResponse{StateId: stateID, EpochAuthenticator: g.EpochAuthenticator()}, nil
}

// ExternalJoin joins by external commit from a GroupInfo (and the tree,
// when out of band), resyncing when remove_prior asks to remove the
// joiner's earlier appearance, and injecting the PSKs given, which are
// stored in the server's table first.
func (s *Server) ExternalJoin(_ context.Context, req *pb.ExternalJoinRequest) (*pb.ExternalJoinResponse, error) {
	giMsg, gi, err := parseGroupInfo(req.GetGroupInfo())
	if err != nil {
		return nil, err
	}
	tree, err := parseTree(req.GetRatchetTree())
	if err != nil {
		return nil, err
	}
	opts := &mls.ExternalJoinOptions{RatchetTree: tree, Resync: req.GetRemovePrior()}
	for _, psk := range req.GetPsks() {
		if len(psk.GetPskId()) == 0 {
			return nil, status.Error(codes.InvalidArgument, "mls: empty PSK ID")
		}
		if err := s.psks.store(psk.GetPskId(), psk.GetPskSecret()); err != nil {
			return nil, err
		}
		opts.PSKs = append(opts.PSKs, mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: bytes.Clone(psk.GetPskId())})
	}
	id, err := newIdentity(uint32(gi.GroupContext.CipherSuite), req.GetIdentity())
	if err != nil {
		return nil, err
	}
	cfg := s.config(req.GetEncryptHandshake())
	g, commit, err := mls.JoinExternal(giMsg, id, cfg, opts)
	if err != nil {
		return nil, failed("joining by external commit", err)
	}
	commitBytes, err := commit.MarshalBinary()
	if err != nil {
		return nil, internalError("encoding the commit", err)
	}
	stateID, err := s.addGroup(id, g, cfg)
	if err != nil {
		return nil, err
	}
	return &pb.ExternalJoinResponse{StateId: stateID, Commit: commitBytes, EpochAuthenticator: g.EpochAuthenticator()}, nil
}

// GroupInfo returns a signed GroupInfo of the current epoch with
// external_pub, and with the ratchet tree inside it or, for external_tree,
// beside it.
func (s *Server) GroupInfo(_ context.Context, req *pb.GroupInfoRequest) (*pb.GroupInfoResponse, error) {
	resp := &pb.GroupInfoResponse{}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		gi, err := c.group.GroupInfo(&mls.GroupInfoOptions{RatchetTreeOutOfBand: req.GetExternalTree()})
		if err != nil {
			return failed("making the GroupInfo", err)
		}
		if resp.GroupInfo, err = gi.MarshalBinary(); err != nil {
			return internalError("encoding the GroupInfo", err)
		}
		if req.GetExternalTree() {
			if resp.RatchetTree, err = c.group.RatchetTree().MarshalBinary(); err != nil {
				return internalError("encoding the ratchet tree", err)
			}
		}
		return nil
	})
	return resp, err
}

// StateAuth returns the epoch_authenticator of the current epoch (RFC 9420
// section 8.7), which members compare to confirm they share the state.
func (s *Server) StateAuth(_ context.Context, req *pb.StateAuthRequest) (*pb.StateAuthResponse, error) {
	resp := &pb.StateAuthResponse{}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		resp.StateAuthSecret = bytes.Clone(c.group.EpochAuthenticator())
		return nil
	})
	return resp, err
}

// maxExportLength bounds the exporter output the runner may ask for: far
// more than any real use, far less than what would strain the server.
const maxExportLength = 1 << 16

// Export returns MLS-Exporter(label, context, key_length).
func (s *Server) Export(_ context.Context, req *pb.ExportRequest) (*pb.ExportResponse, error) {
	if req.GetKeyLength() > maxExportLength {
		return nil, status.Errorf(codes.InvalidArgument, "mls: export length %d is over %d", req.GetKeyLength(), maxExportLength)
	}
	resp := &pb.ExportResponse{}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		var err error
		resp.ExportedSecret, err = c.group.Export(req.GetLabel(), req.GetContext(), int(req.GetKeyLength()))
		if err != nil {
			return failed("exporting", err)
		}
		return nil
	})
	return resp, err
}

// Protect encrypts application data with the authenticated data given.
func (s *Server) Protect(_ context.Context, req *pb.ProtectRequest) (*pb.ProtectResponse, error) {
	resp := &pb.ProtectResponse{}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		msg, err := c.group.SendWithAuthenticatedData(req.GetPlaintext(), req.GetAuthenticatedData())
		if err != nil {
			return failed("protecting", err)
		}
		if resp.Ciphertext, err = msg.MarshalBinary(); err != nil {
			return internalError("encoding the message", err)
		}
		return nil
	})
	return resp, err
}

// Unprotect decrypts an application message of the current or a kept past
// epoch and returns its data and authenticated data.
func (s *Server) Unprotect(_ context.Context, req *pb.UnprotectRequest) (*pb.UnprotectResponse, error) {
	msg, err := parseMessage("PrivateMessage", req.GetCiphertext())
	if err != nil {
		return nil, err
	}
	resp := &pb.UnprotectResponse{}
	err = s.withGroup(req.GetStateId(), func(c *clientState) error {
		rec, err := c.group.Process(msg)
		if err != nil {
			return failed("unprotecting", err)
		}
		if rec.Kind != mls.KindApplication {
			return status.Error(codes.InvalidArgument, "mls: not an application message")
		}
		resp.Plaintext, resp.AuthenticatedData = rec.Data, rec.AuthenticatedData
		return nil
	})
	return resp, err
}

// propose runs one Propose* method of the state's group and returns the
// proposal as an MLSMessage, which the runner hands to the committer and to
// the other members by reference.
func (s *Server) propose(stateID uint32, f func(c *clientState) (*mls.MLSMessage, error)) (*pb.ProposalResponse, error) {
	resp := &pb.ProposalResponse{}
	err := s.withGroup(stateID, func(c *clientState) error {
		msg, err := f(c)
		if err != nil {
			return failed("proposing", err)
		}
		if resp.Proposal, err = msg.MarshalBinary(); err != nil {
			return internalError("encoding the proposal", err)
		}
		return nil
	})
	return resp, err
}

// AddProposal proposes to add the owner of a KeyPackage.
func (s *Server) AddProposal(_ context.Context, req *pb.AddProposalRequest) (*pb.ProposalResponse, error) {
	kp, err := parseKeyPackage(req.GetKeyPackage())
	if err != nil {
		return nil, err
	}
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		return c.group.ProposeAdd(kp)
	})
}

// UpdateProposal proposes a fresh leaf for the member.
func (s *Server) UpdateProposal(_ context.Context, req *pb.UpdateProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		return c.group.ProposeUpdate()
	})
}

// RemoveProposal proposes to remove the member whose basic credential
// names removed_id.
func (s *Server) RemoveProposal(_ context.Context, req *pb.RemoveProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		leaf, err := memberLeaf(c.group.RatchetTree(), req.GetRemovedId())
		if err != nil {
			return nil, err
		}
		return c.group.ProposeRemove(leaf)
	})
}

// ExternalPSKProposal proposes to inject an external PSK stored earlier.
func (s *Server) ExternalPSKProposal(_ context.Context, req *pb.ExternalPSKProposalRequest) (*pb.ProposalResponse, error) {
	// Checked here, since the proposal would only fail at the commit.
	if _, ok := s.psks.get(req.GetPskId()); !ok {
		return nil, status.Error(codes.NotFound, "mls: no external PSK stored under this ID")
	}
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		return c.group.ProposePSK(externalPSK(req.GetPskId()))
	})
}

// ResumptionPSKProposal proposes to inject the group's own resumption PSK
// of an epoch (usage application).
func (s *Server) ResumptionPSKProposal(_ context.Context, req *pb.ResumptionPSKProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		// The group must hold the epoch's resumption PSK: a past epoch it
		// kept or the current one, not a later one.
		if _, err := c.group.ResumptionPSK(req.GetEpochId()); err != nil {
			return nil, status.Errorf(codes.NotFound, "mls: no resumption PSK of epoch %d: %v", req.GetEpochId(), err)
		}
		return c.group.ProposePSK(resumptionPSK(c.group.GroupID(), req.GetEpochId()))
	})
}

// GroupContextExtensionsProposal proposes to replace the GroupContext
// extensions with the list given (an empty list removes them all).
func (s *Server) GroupContextExtensionsProposal(_ context.Context, req *pb.GroupContextExtensionsProposalRequest) (*pb.ProposalResponse, error) {
	exts, err := convertExtensions(req.GetExtensions())
	if err != nil {
		return nil, err
	}
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		return c.group.ProposeGroupContextExtensions(exts)
	})
}

// Commit commits exactly the proposals given: those by reference (the
// MLSMessages of the proposals, which the committer processes first unless
// they are its own) and those described by value. Proposals cached in the
// epoch but not listed are left out. The commit stays pending until
// HandlePendingCommit.
func (s *Server) Commit(_ context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	resp := &pb.CommitResponse{}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		return commit(c.group, req, resp)
	})
	return resp, err
}

func commit(g *mls.Group, req *pb.CommitRequest, resp *pb.CommitResponse) error {
	refs, err := processProposals(g, req.GetByReference())
	if err != nil {
		return err
	}
	for _, p := range g.PendingProposals() {
		if !containsRef(refs, p.Ref) {
			g.DiscardProposal(p.Ref)
		}
	}
	opts := mls.CommitOptions{Update: req.GetForcePath(), RatchetTreeOutOfBand: req.GetExternalTree()}
	for _, d := range req.GetByValue() {
		p, err := describedProposal(d, g.GroupID(), g.CipherSuite(), g.RatchetTree())
		if err != nil {
			return err
		}
		switch {
		case p.Add != nil:
			opts.Add = append(opts.Add, &p.Add.KeyPackage)
		case p.Remove != nil:
			opts.Remove = append(opts.Remove, p.Remove.Removed)
		case p.PreSharedKey != nil:
			opts.PSKs = append(opts.PSKs, p.PreSharedKey.PSK)
		case p.GroupContextExtensions != nil:
			opts.GroupContextExtensions = p.GroupContextExtensions.Extensions
		default:
			opts.Proposals = append(opts.Proposals, *p)
		}
	}
	pc, err := g.Commit(opts)
	if err != nil {
		return failed("committing", err)
	}
	if resp.Commit, err = pc.Commit.MarshalBinary(); err != nil {
		return internalError("encoding the commit", err)
	}
	if pc.Welcome != nil {
		if resp.Welcome, err = pc.Welcome.MarshalBinary(); err != nil {
			return internalError("encoding the Welcome", err)
		}
	}
	if req.GetExternalTree() && pc.RatchetTree != nil {
		if resp.RatchetTree, err = pc.RatchetTree.MarshalBinary(); err != nil {
			return internalError("encoding the ratchet tree", err)
		}
	}
	return nil
}

// processProposals processes proposal messages (own ones are recognized
// and stay cached) and returns their ProposalRefs.
func processProposals(g *mls.Group, msgs [][]byte) ([][]byte, error) {
	refs := make([][]byte, 0, len(msgs))
	for _, b := range msgs {
		msg, err := parseMessage("proposal", b)
		if err != nil {
			return nil, err
		}
		rec, err := g.Process(msg)
		if err != nil {
			return nil, failed("processing a proposal", err)
		}
		if rec.Kind != mls.KindProposal {
			return nil, status.Error(codes.InvalidArgument, "mls: by-reference message is not a proposal")
		}
		refs = append(refs, rec.ProposalRef)
	}
	return refs, nil
}

func containsRef(refs [][]byte, ref []byte) bool {
	for _, r := range refs {
		if bytes.Equal(r, ref) {
			return true
		}
	}
	return false
}

// HandleCommit processes the proposals the commit refers to, then the
// commit, and returns the new epoch's authenticator. The state keeps its
// ID.
func (s *Server) HandleCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleCommitResponse, error) {
	resp := &pb.HandleCommitResponse{StateId: req.GetStateId()}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		if err := handleCommit(c.group, req); err != nil {
			return err
		}
		resp.EpochAuthenticator = bytes.Clone(c.group.EpochAuthenticator())
		return nil
	})
	return resp, err
}

func handleCommit(g *mls.Group, req *pb.HandleCommitRequest) error {
	if _, err := processProposals(g, req.GetProposal()); err != nil {
		return err
	}
	msg, err := parseMessage("commit", req.GetCommit())
	if err != nil {
		return err
	}
	rec, err := g.Process(msg)
	if err != nil {
		return failed("processing the commit", err)
	}
	if rec.Kind != mls.KindCommit {
		return status.Error(codes.InvalidArgument, "mls: message is not a commit")
	}
	return nil
}

// HandlePendingCommit merges the member's own pending commit.
func (s *Server) HandlePendingCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleCommitResponse, error) {
	resp := &pb.HandleCommitResponse{StateId: req.GetStateId()}
	err := s.withGroup(req.GetStateId(), func(c *clientState) error {
		if _, err := c.group.MergePendingCommit(); err != nil {
			return failed("merging the pending commit", err)
		}
		resp.EpochAuthenticator = bytes.Clone(c.group.EpochAuthenticator())
		return nil
	})
	return resp, err
}

// ReInitProposal proposes to reinitialize the group with a new group ID,
// suite and extensions.
func (s *Server) ReInitProposal(_ context.Context, req *pb.ReInitProposalRequest) (*pb.ProposalResponse, error) {
	suite, err := suiteID(req.GetCipherSuite())
	if err != nil {
		return nil, err
	}
	exts, err := convertExtensions(req.GetExtensions())
	if err != nil {
		return nil, err
	}
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		return c.group.ProposeReInit(bytes.Clone(req.GetGroupId()), suite, exts)
	})
}

// ReInitCommit commits a ReInit proposal, like Commit.
func (s *Server) ReInitCommit(ctx context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	return s.Commit(ctx, req)
}

// HandlePendingReInitCommit merges the member's own ReInit commit and
// starts the ReInit (see startReInit).
func (s *Server) HandlePendingReInitCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return s.reinitAfter(req.GetStateId(), func(g *mls.Group) error {
		if _, err := g.MergePendingCommit(); err != nil {
			return failed("merging the pending commit", err)
		}
		return nil
	})
}

// HandleReInitCommit processes another member's ReInit commit and starts
// the ReInit (see startReInit).
func (s *Server) HandleReInitCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return s.reinitAfter(req.GetStateId(), func(g *mls.Group) error {
		return handleCommit(g, req)
	})
}

// reinitAfter runs apply, which must close the group with a ReInit commit,
// then makes the member a KeyPackage in the new group's suite and keeps it
// with the closed group under a new ReInit ID. The KeyPackage goes to the
// member who creates the new group (ReInitWelcome); the ReInit ID is used
// to join it (HandleReInitWelcome) or create it.
func (s *Server) reinitAfter(stateID uint32, apply func(*mls.Group) error) (*pb.HandleReInitCommitResponse, error) {
	resp := &pb.HandleReInitCommitResponse{}
	var next *clientState
	err := s.withGroup(stateID, func(c *clientState) error {
		if err := apply(c.group); err != nil {
			return err
		}
		ri := c.group.PendingReInit()
		if ri == nil {
			return status.Error(codes.FailedPrecondition, "mls: the commit did not close the group with a ReInit")
		}
		id, err := newIdentity(uint32(ri.CipherSuite), c.identity.Credential.Identity)
		if err != nil {
			return err
		}
		kp, err := mls.NewKeyPackage(id, nil)
		if err != nil {
			return internalError("making the KeyPackage", err)
		}
		if resp.KeyPackage, err = (&mls.MLSMessage{KeyPackage: kp.KeyPackage}).MarshalBinary(); err != nil {
			return internalError("encoding the KeyPackage", err)
		}
		resp.EpochAuthenticator = bytes.Clone(c.group.EpochAuthenticator())
		next = &clientState{identity: id, keyPackage: kp, group: c.group, cfg: c.cfg, reinit: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if resp.ReinitId, err = s.states.add(next); err != nil {
		return nil, err
	}
	return resp, nil
}

// withReInit runs f on the ReInit handle id.
func (s *Server) withReInit(id uint32, f func(c *clientState) error) error {
	return s.states.use(id, func(c *clientState) error {
		if !c.reinit {
			return status.Errorf(codes.FailedPrecondition, "mls: state %d is not a ReInit", id)
		}
		return f(c)
	})
}

// ReInitWelcome creates the group that continues a ReInit-closed one,
// adding the other members by their KeyPackages, merges its first commit
// and returns the Welcome with a new state ID for the new group.
func (s *Server) ReInitWelcome(_ context.Context, req *pb.ReInitWelcomeRequest) (*pb.CreateSubgroupResponse, error) {
	kps, err := parseKeyPackages(req.GetKeyPackage())
	if err != nil {
		return nil, err
	}
	return s.subgroup(func(add func(*mls.Identity, *mls.Group, *mls.PendingCommit, *mls.Config) error) error {
		return s.withReInit(req.GetReinitId(), func(c *clientState) error {
			g, pc, err := c.group.ReInit(kps, &mls.ResumeOptions{
				Identity: c.identity, Config: c.cfg, RatchetTreeOutOfBand: req.GetExternalTree(),
				ForcePath: req.GetForcePath(),
			})
			if err != nil {
				return failed("creating the reinitialized group", err)
			}
			return add(c.identity, g, pc, c.cfg)
		})
	})
}

// subgroup runs create, which makes a new group with its first commit
// (ReInit or branch) and passes them to add; add merges the commit, keeps
// the group under a new ID and fills the response.
func (s *Server) subgroup(create func(add func(*mls.Identity, *mls.Group, *mls.PendingCommit, *mls.Config) error) error) (*pb.CreateSubgroupResponse, error) {
	resp := &pb.CreateSubgroupResponse{}
	var id *mls.Identity
	var g *mls.Group
	var cfg *mls.Config
	err := create(func(ident *mls.Identity, ng *mls.Group, pc *mls.PendingCommit, c *mls.Config) error {
		var err error
		if pc.Welcome == nil {
			return status.Error(codes.InvalidArgument, "mls: no KeyPackages: the new group would have no other member")
		}
		if resp.Welcome, err = pc.Welcome.MarshalBinary(); err != nil {
			return internalError("encoding the Welcome", err)
		}
		if pc.RatchetTree != nil {
			if resp.RatchetTree, err = pc.RatchetTree.MarshalBinary(); err != nil {
				return internalError("encoding the ratchet tree", err)
			}
		}
		if _, err := ng.MergePendingCommit(); err != nil {
			return failed("merging the first commit", err)
		}
		id, g, cfg = ident, ng, c
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp.EpochAuthenticator = bytes.Clone(g.EpochAuthenticator())
	if resp.StateId, err = s.addGroup(id, g, cfg); err != nil {
		return nil, err
	}
	return resp, nil
}

// HandleReInitWelcome joins the group that continues a ReInit-closed one,
// with the KeyPackage made for it, and returns a new state ID.
func (s *Server) HandleReInitWelcome(_ context.Context, req *pb.HandleReInitWelcomeRequest) (*pb.JoinGroupResponse, error) {
	welcome, err := parseMessage("Welcome", req.GetWelcome())
	if err != nil {
		return nil, err
	}
	tree, err := parseTree(req.GetRatchetTree())
	if err != nil {
		return nil, err
	}
	var id *mls.Identity
	var g *mls.Group
	var cfg *mls.Config
	err = s.withReInit(req.GetReinitId(), func(c *clientState) error {
		var err error
		g, err = mls.Join(c.identity, welcome, c.keyPackage, c.cfg, &mls.JoinOptions{RatchetTree: tree, PreviousGroup: c.group})
		if err != nil {
			return failed("joining the reinitialized group", err)
		}
		id, cfg = c.identity, c.cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	stateID, err := s.addGroup(id, g, cfg)
	if err != nil {
		return nil, err
	}
	return &pb.JoinGroupResponse{StateId: stateID, EpochAuthenticator: bytes.Clone(g.EpochAuthenticator())}, nil
}

// CreateBranch creates a subgroup of the member's group with the given ID
// and extensions, adding the members by fresh KeyPackages, and returns the
// Welcome with a new state ID; the original group stays usable.
func (s *Server) CreateBranch(_ context.Context, req *pb.CreateBranchRequest) (*pb.CreateSubgroupResponse, error) {
	kps, err := parseKeyPackages(req.GetKeyPackages())
	if err != nil {
		return nil, err
	}
	exts, err := convertExtensions(req.GetExtensions())
	if err != nil {
		return nil, err
	}
	return s.subgroup(func(add func(*mls.Identity, *mls.Group, *mls.PendingCommit, *mls.Config) error) error {
		return s.withGroup(req.GetStateId(), func(c *clientState) error {
			g, pc, err := c.group.Branch(kps, &mls.ResumeOptions{
				Config: c.cfg, GroupID: bytes.Clone(req.GetGroupId()), Extensions: exts,
				RatchetTreeOutOfBand: req.GetExternalTree(), ForcePath: req.GetForcePath(),
			})
			if err != nil {
				return failed("creating the branch", err)
			}
			return add(c.identity, g, pc, c.cfg)
		})
	})
}

// HandleBranch joins a branch of the member's group with the KeyPackage of
// a transaction and returns a new state ID.
func (s *Server) HandleBranch(_ context.Context, req *pb.HandleBranchRequest) (*pb.HandleBranchResponse, error) {
	ident, kp, err := s.takeTransaction(req.GetTransactionId())
	if err != nil {
		return nil, err
	}
	welcome, err := parseMessage("Welcome", req.GetWelcome())
	if err != nil {
		return nil, err
	}
	tree, err := parseTree(req.GetRatchetTree())
	if err != nil {
		return nil, err
	}
	var g *mls.Group
	var cfg *mls.Config
	err = s.withGroup(req.GetStateId(), func(c *clientState) error {
		var err error
		g, err = mls.Join(ident, welcome, kp, c.cfg, &mls.JoinOptions{RatchetTree: tree, PreviousGroup: c.group})
		if err != nil {
			return failed("joining the branch", err)
		}
		cfg = c.cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	stateID, err := s.addGroup(ident, g, cfg)
	if err != nil {
		return nil, err
	}
	s.states.remove(req.GetTransactionId())
	return &pb.HandleBranchResponse{StateId: stateID, EpochAuthenticator: bytes.Clone(g.EpochAuthenticator())}, nil
}

// NewMemberAddProposal makes an identity and KeyPackage in the suite of
// the GroupInfo, and the Add proposal by which the new member asks to
// join (sender new_member_proposal). The KeyPackage is kept under a
// transaction ID for the JoinGroup that follows.
func (s *Server) NewMemberAddProposal(_ context.Context, req *pb.NewMemberAddProposalRequest) (*pb.NewMemberAddProposalResponse, error) {
	giMsg, gi, err := parseGroupInfo(req.GetGroupInfo())
	if err != nil {
		return nil, err
	}
	id, err := newIdentity(uint32(gi.GroupContext.CipherSuite), req.GetIdentity())
	if err != nil {
		return nil, err
	}
	bundle, err := mls.NewKeyPackage(id, nil)
	if err != nil {
		return nil, internalError("making the KeyPackage", err)
	}
	msg, err := mls.NewMemberProposal(giMsg, id, bundle.KeyPackage)
	if err != nil {
		return nil, failed("making the proposal", err)
	}
	resp := &pb.NewMemberAddProposalResponse{
		InitPriv:       bytes.Clone(bundle.InitPrivateKey()),
		EncryptionPriv: bytes.Clone(bundle.EncryptionPrivateKey()),
		SignaturePriv:  bytes.Clone(id.SigningKey.Bytes()),
	}
	if resp.Proposal, err = msg.MarshalBinary(); err != nil {
		return nil, internalError("encoding the proposal", err)
	}
	if resp.TransactionId, err = s.states.add(&clientState{identity: id, keyPackage: bundle}); err != nil {
		return nil, err
	}
	return resp, nil
}

// AddExternalSigner proposes GroupContext extensions that add the
// ExternalSender given to the group's external_senders list (creating the
// extension if needed) and keep the other extensions.
func (s *Server) AddExternalSigner(_ context.Context, req *pb.AddExternalSignerRequest) (*pb.ProposalResponse, error) {
	sender, err := parseExternalSender(req.GetExternalSender())
	if err != nil {
		return nil, err
	}
	return s.propose(req.GetStateId(), func(c *clientState) (*mls.MLSMessage, error) {
		exts := c.group.Extensions()
		var senders mls.ExternalSenders
		at := -1
		for i, e := range exts {
			if e.ExtensionType == mls.ExtensionTypeExternalSenders {
				if err := senders.UnmarshalBinary(e.ExtensionData); err != nil {
					return nil, err
				}
				at = i
			}
		}
		senders = append(senders, sender)
		data, err := senders.MarshalBinary()
		if err != nil {
			return nil, err
		}
		ext := mls.Extension{ExtensionType: mls.ExtensionTypeExternalSenders, ExtensionData: data}
		if at < 0 {
			exts = append(exts, ext)
		} else {
			exts[at] = ext
		}
		return c.group.ProposeGroupContextExtensions(exts)
	})
}

// ExternalSignerProposal makes a proposal of an external signer for the
// group a GroupInfo describes. The signer's index in external_senders is
// found by its signature key (the runner does not fill signer_index).
func (s *Server) ExternalSignerProposal(_ context.Context, req *pb.ExternalSignerProposalRequest) (*pb.ProposalResponse, error) {
	_, gi, err := parseGroupInfo(req.GetGroupInfo())
	if err != nil {
		return nil, err
	}
	tree, err := parseTree(req.GetRatchetTree())
	if err != nil {
		return nil, err
	}
	if tree == nil {
		if e, ok := gi.Extensions.Find(mls.ExtensionTypeRatchetTree); ok {
			if err := tree.UnmarshalBinary(e.ExtensionData); err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "mls: ratchet_tree extension: %v", err)
			}
		}
	}
	gc := &gi.GroupContext
	p, err := describedProposal(req.GetDescription(), gc.GroupID, gc.CipherSuite, tree)
	if err != nil {
		return nil, err
	}
	resp := &pb.ProposalResponse{}
	err = s.states.use(req.GetSignerId(), func(c *clientState) error {
		if c.identity == nil || c.group != nil || c.keyPackage != nil {
			return status.Errorf(codes.FailedPrecondition, "mls: state %d is not an external signer", req.GetSignerId())
		}
		index, err := signerIndex(gc.Extensions, c.identity.SigningKey.PublicKey())
		if err != nil {
			return err
		}
		msg, err := mls.NewExternalProposal(gc.GroupID, gc.Epoch, index, c.identity.SigningKey, p, nil)
		if err != nil {
			return failed("making the external proposal", err)
		}
		if resp.Proposal, err = msg.MarshalBinary(); err != nil {
			return internalError("encoding the proposal", err)
		}
		return nil
	})
	return resp, err
}

// signerIndex finds the entry of the external_senders extension with the
// signature key pub.
func signerIndex(exts mls.Extensions, pub []byte) (uint32, error) {
	e, ok := exts.Find(mls.ExtensionTypeExternalSenders)
	if !ok {
		return 0, status.Error(codes.FailedPrecondition, "mls: the group has no external_senders extension")
	}
	var senders mls.ExternalSenders
	if err := senders.UnmarshalBinary(e.ExtensionData); err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "mls: external_senders: %v", err)
	}
	for i, s := range senders {
		if bytes.Equal(s.SignatureKey, pub) {
			return uint32(i), nil
		}
	}
	return 0, status.Error(codes.FailedPrecondition, "mls: the signer is not in the group's external_senders")
}

// describedProposal builds the proposal a ProposalDescription of the
// runner describes, for the group groupID of suite suite with ratchet tree
// tree (which a remove needs, to find the member by its identity).
func describedProposal(d *pb.ProposalDescription, groupID []byte, suite ciphersuite.ID, tree mls.TreeNodes) (*mls.Proposal, error) {
	switch string(d.GetProposalType()) {
	case "add":
		kp, err := parseKeyPackage(d.GetKeyPackage())
		if err != nil {
			return nil, err
		}
		return &mls.Proposal{Add: &mls.AddProposal{KeyPackage: *kp}}, nil
	case "remove":
		leaf, err := memberLeaf(tree, d.GetRemovedId())
		if err != nil {
			return nil, err
		}
		return &mls.Proposal{Remove: &mls.RemoveProposal{Removed: leaf}}, nil
	case "externalPSK":
		return pskProposal(externalPSK(d.GetPskId()), suite)
	case "resumptionPSK":
		return pskProposal(resumptionPSK(groupID, d.GetEpochId()), suite)
	case "groupContextExtensions":
		exts, err := convertExtensions(d.GetExtensions())
		if err != nil {
			return nil, err
		}
		return &mls.Proposal{GroupContextExtensions: &mls.GroupContextExtensionsProposal{Extensions: exts}}, nil
	case "reinit":
		exts, err := convertExtensions(d.GetExtensions())
		if err != nil {
			return nil, err
		}
		newSuite, err := suiteID(d.GetCipherSuite())
		if err != nil {
			return nil, err
		}
		return &mls.Proposal{ReInit: &mls.ReInitProposal{
			GroupID: bytes.Clone(d.GetGroupId()), Version: mls.ProtocolVersionMLS10,
			CipherSuite: newSuite, Extensions: exts,
		}}, nil
	}
	return nil, status.Errorf(codes.InvalidArgument, "mls: unknown proposal type %q", d.GetProposalType())
}

// pskProposal returns a PreSharedKey proposal for id with a fresh nonce of
// the suite's hash length (RFC 9420 section 8.4), as an external sender's
// proposal must carry it itself.
func pskProposal(id mls.PreSharedKeyID, suite ciphersuite.ID) (*mls.Proposal, error) {
	cs, err := ciphersuite.Lookup(suite)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "mls: %v", err)
	}
	id.PSKNonce = make([]byte, cs.HashSize())
	if _, err := rand.Read(id.PSKNonce); err != nil {
		return nil, internalError("making a PSK nonce", err)
	}
	return &mls.Proposal{PreSharedKey: &mls.PreSharedKeyProposal{PSK: id}}, nil
}

func externalPSK(pskID []byte) mls.PreSharedKeyID {
	return mls.PreSharedKeyID{PSKType: mls.PSKTypeExternal, PSKID: bytes.Clone(pskID)}
}

func resumptionPSK(groupID []byte, epoch uint64) mls.PreSharedKeyID {
	return mls.PreSharedKeyID{
		PSKType: mls.PSKTypeResumption, Usage: mls.ResumptionPSKUsageApplication,
		PSKGroupID: bytes.Clone(groupID), PSKEpoch: epoch,
	}
}

// memberLeaf finds the leaf of the member whose credential's identity is
// identity (the runner names members by their basic credentials).
func memberLeaf(tree mls.TreeNodes, identity []byte) (mls.LeafIndex, error) {
	for i := 0; i < len(tree); i += 2 {
		if n := tree[i]; n != nil && n.Leaf != nil && bytes.Equal(n.Leaf.Credential.Identity, identity) {
			return mls.LeafIndex(i / 2), nil
		}
	}
	return 0, status.Errorf(codes.InvalidArgument, "mls: no member with identity %q", identity)
}

// convertExtensions turns the runner's extensions into package mls's.
func convertExtensions(in []*pb.Extension) (mls.Extensions, error) {
	out := make(mls.Extensions, 0, len(in))
	for _, e := range in {
		if e.GetExtensionType() > math.MaxUint16 {
			return nil, status.Errorf(codes.InvalidArgument, "mls: extension type %d does not fit in 16 bits", e.GetExtensionType())
		}
		out = append(out, mls.Extension{
			ExtensionType: mls.ExtensionType(e.GetExtensionType()),
			ExtensionData: bytes.Clone(e.GetExtensionData()),
		})
	}
	return out, nil
}

func suiteID(suite uint32) (ciphersuite.ID, error) {
	if suite > math.MaxUint16 {
		return 0, status.Errorf(codes.InvalidArgument, "mls: cipher suite %d does not fit in 16 bits", suite)
	}
	return ciphersuite.ID(suite), nil
}

// parseMessage decodes an MLSMessage the runner passed on.
func parseMessage(what string, b []byte) (*mls.MLSMessage, error) {
	var msg mls.MLSMessage
	if err := msg.UnmarshalBinary(b); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "mls: decoding the %s: %v", what, err)
	}
	return &msg, nil
}

// parseKeyPackage decodes a KeyPackage sent as an MLSMessage.
func parseKeyPackage(b []byte) (*mls.KeyPackage, error) {
	msg, err := parseMessage("KeyPackage", b)
	if err != nil {
		return nil, err
	}
	if msg.KeyPackage == nil {
		return nil, status.Error(codes.InvalidArgument, "mls: message is not a KeyPackage")
	}
	return msg.KeyPackage, nil
}

func parseKeyPackages(bs [][]byte) ([]*mls.KeyPackage, error) {
	kps := make([]*mls.KeyPackage, 0, len(bs))
	for _, b := range bs {
		kp, err := parseKeyPackage(b)
		if err != nil {
			return nil, err
		}
		kps = append(kps, kp)
	}
	return kps, nil
}

// parseGroupInfo decodes a GroupInfo sent as an MLSMessage.
func parseGroupInfo(b []byte) (*mls.MLSMessage, *mls.GroupInfo, error) {
	msg, err := parseMessage("GroupInfo", b)
	if err != nil {
		return nil, nil, err
	}
	if msg.GroupInfo == nil {
		return nil, nil, status.Error(codes.InvalidArgument, "mls: message is not a GroupInfo")
	}
	return msg, msg.GroupInfo, nil
}

// parseTree decodes a ratchet tree sent out of band; empty means none.
func parseTree(b []byte) (mls.TreeNodes, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var t mls.TreeNodes
	if err := t.UnmarshalBinary(b); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "mls: decoding the ratchet tree: %v", err)
	}
	return t, nil
}

// parseExternalSender decodes one TLS-encoded ExternalSender by decoding
// it as a one-entry external_senders list, which package mls reads.
func parseExternalSender(b []byte) (mls.ExternalSender, error) {
	w := codec.NewBuilder(len(b) + 8)
	w.AddOpaque(b)
	list, err := w.Bytes()
	if err != nil {
		return mls.ExternalSender{}, status.Errorf(codes.InvalidArgument, "mls: external sender: %v", err)
	}
	var senders mls.ExternalSenders
	if err := senders.UnmarshalBinary(list); err != nil || len(senders) != 1 {
		return mls.ExternalSender{}, status.Error(codes.InvalidArgument, "mls: malformed external sender")
	}
	return senders[0], nil
}

// failed reports a group operation that package mls refused, usually
// because of what the runner sent.
func failed(what string, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.FailedPrecondition, "mls: %s: %v", what, err)
}
