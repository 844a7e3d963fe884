package interop

import (
	"bytes"
	"context"
	"errors"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	pb "github.com/arbormls/mls/interop/proto"
)

// Name is what the Name RPC answers.
const Name = "Arbor"

// Server implements the harness's MLSClient service. It embeds no default
// implementation: every RPC is written out here or in group.go, so
// an RPC added to the .proto fails to compile until it is handled. Create
// one with NewServer; it is safe for concurrent use.
type Server struct {
	states *stateTable
	psks   *pskStore
}

var _ pb.MLSClientServer = (*Server)(nil)

// NewServer returns a Server with no states and no PSKs.
func NewServer() *Server {
	return &Server{states: newStateTable(), psks: newPSKStore()}
}

// Close erases every state and PSK the server holds. Call it once the gRPC
// server has stopped; RPCs after Close find no states.
func (s *Server) Close() {
	s.states.freeAll()
	s.psks.eraseAll()
}

// Name returns "Arbor".
func (s *Server) Name(context.Context, *pb.NameRequest) (*pb.NameResponse, error) {
	return &pb.NameResponse{Name: Name}, nil
}

// SupportedCiphersuites lists the suites of the profile in force
// (ciphersuite.IDs): the RFC 9420 suites and the profile's extra ones, less
// those FIPS 140-3 mode refuses.
func (s *Server) SupportedCiphersuites(context.Context, *pb.SupportedCiphersuitesRequest) (*pb.SupportedCiphersuitesResponse, error) {
	ids := ciphersuite.IDs()
	out := make([]uint32, len(ids))
	for i, id := range ids {
		out[i] = uint32(id)
	}
	return &pb.SupportedCiphersuitesResponse{Ciphersuites: out}, nil
}

// CreateKeyPackage makes a basic-credential identity and a KeyPackage for
// it, keeps both under a new transaction ID for the later JoinGroup, and
// returns the KeyPackage as an MLSMessage with its private keys, which the
// harness records in its transcript.
func (s *Server) CreateKeyPackage(_ context.Context, req *pb.CreateKeyPackageRequest) (*pb.CreateKeyPackageResponse, error) {
	id, err := newIdentity(req.GetCipherSuite(), req.GetIdentity())
	if err != nil {
		return nil, err
	}
	bundle, err := mls.NewKeyPackage(id, nil)
	if err != nil {
		return nil, internalError("making the KeyPackage", err)
	}
	kp, err := (&mls.MLSMessage{KeyPackage: bundle.KeyPackage}).MarshalBinary()
	if err != nil {
		return nil, internalError("encoding the KeyPackage", err)
	}
	resp := &pb.CreateKeyPackageResponse{
		KeyPackage: kp,
		// Copies, so that a Free racing with the response's encoding
		// cannot zero them underneath gRPC.
		InitPriv:       bytes.Clone(bundle.InitPrivateKey()),
		EncryptionPriv: bytes.Clone(bundle.EncryptionPrivateKey()),
		SignaturePriv:  bytes.Clone(id.SigningKey.Bytes()),
	}
	if resp.TransactionId, err = s.states.add(&clientState{identity: id, keyPackage: bundle}); err != nil {
		return nil, err
	}
	return resp, nil
}

// StorePSK stores an external PSK for the server's clients (see pskStore).
// The ID in the request must be 0, which the runner sends for a client with
// no state yet, or name a live state.
func (s *Server) StorePSK(_ context.Context, req *pb.StorePSKRequest) (*pb.StorePSKResponse, error) {
	if id := req.GetStateOrTransactionId(); id != 0 && !s.states.exists(id) {
		return nil, unknownState(id)
	}
	if len(req.GetPskId()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "mls: empty PSK ID")
	}
	if err := s.psks.store(req.GetPskId(), req.GetPskSecret()); err != nil {
		return nil, err
	}
	return &pb.StorePSKResponse{}, nil
}

// CreateExternalSigner makes a basic-credential identity that is not a
// member, keeps it under a new signer ID for ExternalSignerProposal, and
// returns the ExternalSender (RFC 9420 section 12.1.8.1) a member puts in
// the group's external_senders extension to accept its proposals.
func (s *Server) CreateExternalSigner(_ context.Context, req *pb.CreateExternalSignerRequest) (*pb.CreateExternalSignerResponse, error) {
	id, err := newIdentity(req.GetCipherSuite(), req.GetIdentity())
	if err != nil {
		return nil, err
	}
	sender, err := encodeExternalSender(id)
	if err != nil {
		return nil, internalError("encoding the ExternalSender", err)
	}
	signerID, err := s.states.add(&clientState{identity: id})
	if err != nil {
		return nil, err
	}
	return &pb.CreateExternalSignerResponse{SignerId: signerID, ExternalSender: sender}, nil
}

// Free forgets the state, transaction or signer with the given ID and
// zeroes the private key bytes it held. Freeing an unknown ID, or one
// already freed, is a NotFound error.
func (s *Server) Free(_ context.Context, req *pb.FreeRequest) (*pb.FreeResponse, error) {
	if err := s.states.free(req.GetStateId()); err != nil {
		return nil, err
	}
	return &pb.FreeResponse{}, nil
}

// newIdentity returns an identity with a basic credential for name and a
// fresh signature key of the suite the harness named.
func newIdentity(suite uint32, name []byte) (*mls.Identity, error) {
	if suite > math.MaxUint16 {
		return nil, status.Errorf(codes.InvalidArgument, "mls: cipher suite %d does not fit in 16 bits", suite)
	}
	if len(name) == 0 {
		return nil, status.Error(codes.InvalidArgument, "mls: empty identity")
	}
	id, err := mls.NewBasicIdentity(ciphersuite.ID(suite), string(name))
	if errors.Is(err, ciphersuite.ErrUnsupportedSuite) {
		return nil, status.Errorf(codes.InvalidArgument, "mls: %v", err)
	}
	if err != nil {
		return nil, internalError("making the identity", err)
	}
	return id, nil
}

// encodeExternalSender returns the TLS encoding of
//
//	struct {
//	    SignaturePublicKey signature_key;
//	    Credential credential;
//	} ExternalSender;
//
// for id. Package mls encodes only whole external_senders lists, so the
// struct is built here from its two fields.
func encodeExternalSender(id *mls.Identity) ([]byte, error) {
	cred, err := id.Credential.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b := codec.NewBuilder(len(id.SigningKey.PublicKey()) + len(cred) + 8)
	b.AddOpaque(id.SigningKey.PublicKey())
	b.AddRaw(cred)
	return b.Bytes()
}

// internalError reports a failure of ours. The errors of packages mls and
// ciphersuite never carry secrets, so the message can go to the runner.
func internalError(what string, err error) error {
	return status.Errorf(codes.Internal, "mls: %s: %v", what, err)
}
