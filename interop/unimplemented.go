package interop

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/arbormls/mls/interop/proto"
)

// The RPCs below need a member's group state: they wait for the Group state
// machine of package mls. Until then each answers codes.Unimplemented, so
// that the runner reports the step as unsupported instead of failing in a
// misleading way. They are written out, not inherited from an embedded
// default, so that none can be forgotten when the group logic arrives.

// needsGroup is the answer of an RPC that is not implemented yet.
func needsGroup(method string) error {
	return status.Errorf(codes.Unimplemented, "mls: %s: not implemented yet: needs the group state machine", method)
}

// CreateGroup is not implemented yet.
func (s *Server) CreateGroup(context.Context, *pb.CreateGroupRequest) (*pb.CreateGroupResponse, error) {
	return nil, needsGroup("CreateGroup")
}

// JoinGroup is not implemented yet.
func (s *Server) JoinGroup(context.Context, *pb.JoinGroupRequest) (*pb.JoinGroupResponse, error) {
	return nil, needsGroup("JoinGroup")
}

// ExternalJoin is not implemented yet.
func (s *Server) ExternalJoin(context.Context, *pb.ExternalJoinRequest) (*pb.ExternalJoinResponse, error) {
	return nil, needsGroup("ExternalJoin")
}

// GroupInfo is not implemented yet.
func (s *Server) GroupInfo(context.Context, *pb.GroupInfoRequest) (*pb.GroupInfoResponse, error) {
	return nil, needsGroup("GroupInfo")
}

// StateAuth is not implemented yet.
func (s *Server) StateAuth(context.Context, *pb.StateAuthRequest) (*pb.StateAuthResponse, error) {
	return nil, needsGroup("StateAuth")
}

// Export is not implemented yet.
func (s *Server) Export(context.Context, *pb.ExportRequest) (*pb.ExportResponse, error) {
	return nil, needsGroup("Export")
}

// Protect is not implemented yet.
func (s *Server) Protect(context.Context, *pb.ProtectRequest) (*pb.ProtectResponse, error) {
	return nil, needsGroup("Protect")
}

// Unprotect is not implemented yet.
func (s *Server) Unprotect(context.Context, *pb.UnprotectRequest) (*pb.UnprotectResponse, error) {
	return nil, needsGroup("Unprotect")
}

// AddProposal is not implemented yet.
func (s *Server) AddProposal(context.Context, *pb.AddProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("AddProposal")
}

// UpdateProposal is not implemented yet.
func (s *Server) UpdateProposal(context.Context, *pb.UpdateProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("UpdateProposal")
}

// RemoveProposal is not implemented yet.
func (s *Server) RemoveProposal(context.Context, *pb.RemoveProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("RemoveProposal")
}

// ExternalPSKProposal is not implemented yet.
func (s *Server) ExternalPSKProposal(context.Context, *pb.ExternalPSKProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("ExternalPSKProposal")
}

// ResumptionPSKProposal is not implemented yet.
func (s *Server) ResumptionPSKProposal(context.Context, *pb.ResumptionPSKProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("ResumptionPSKProposal")
}

// GroupContextExtensionsProposal is not implemented yet.
func (s *Server) GroupContextExtensionsProposal(context.Context, *pb.GroupContextExtensionsProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("GroupContextExtensionsProposal")
}

// Commit is not implemented yet.
func (s *Server) Commit(context.Context, *pb.CommitRequest) (*pb.CommitResponse, error) {
	return nil, needsGroup("Commit")
}

// HandleCommit is not implemented yet.
func (s *Server) HandleCommit(context.Context, *pb.HandleCommitRequest) (*pb.HandleCommitResponse, error) {
	return nil, needsGroup("HandleCommit")
}

// HandlePendingCommit is not implemented yet.
func (s *Server) HandlePendingCommit(context.Context, *pb.HandlePendingCommitRequest) (*pb.HandleCommitResponse, error) {
	return nil, needsGroup("HandlePendingCommit")
}

// ReInitProposal is not implemented yet.
func (s *Server) ReInitProposal(context.Context, *pb.ReInitProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("ReInitProposal")
}

// ReInitCommit is not implemented yet.
func (s *Server) ReInitCommit(context.Context, *pb.CommitRequest) (*pb.CommitResponse, error) {
	return nil, needsGroup("ReInitCommit")
}

// HandlePendingReInitCommit is not implemented yet.
func (s *Server) HandlePendingReInitCommit(context.Context, *pb.HandlePendingCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return nil, needsGroup("HandlePendingReInitCommit")
}

// HandleReInitCommit is not implemented yet.
func (s *Server) HandleReInitCommit(context.Context, *pb.HandleCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	return nil, needsGroup("HandleReInitCommit")
}

// ReInitWelcome is not implemented yet.
func (s *Server) ReInitWelcome(context.Context, *pb.ReInitWelcomeRequest) (*pb.CreateSubgroupResponse, error) {
	return nil, needsGroup("ReInitWelcome")
}

// HandleReInitWelcome is not implemented yet.
func (s *Server) HandleReInitWelcome(context.Context, *pb.HandleReInitWelcomeRequest) (*pb.JoinGroupResponse, error) {
	return nil, needsGroup("HandleReInitWelcome")
}

// CreateBranch is not implemented yet.
func (s *Server) CreateBranch(context.Context, *pb.CreateBranchRequest) (*pb.CreateSubgroupResponse, error) {
	return nil, needsGroup("CreateBranch")
}

// HandleBranch is not implemented yet.
func (s *Server) HandleBranch(context.Context, *pb.HandleBranchRequest) (*pb.HandleBranchResponse, error) {
	return nil, needsGroup("HandleBranch")
}

// NewMemberAddProposal is not implemented yet.
func (s *Server) NewMemberAddProposal(context.Context, *pb.NewMemberAddProposalRequest) (*pb.NewMemberAddProposalResponse, error) {
	return nil, needsGroup("NewMemberAddProposal")
}

// AddExternalSigner is not implemented yet.
func (s *Server) AddExternalSigner(context.Context, *pb.AddExternalSignerRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("AddExternalSigner")
}

// ExternalSignerProposal is not implemented yet.
func (s *Server) ExternalSignerProposal(context.Context, *pb.ExternalSignerProposalRequest) (*pb.ProposalResponse, error) {
	return nil, needsGroup("ExternalSignerProposal")
}
