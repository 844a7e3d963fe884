package conformance

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("message-protection", runMessageProtection) }

type messageProtectionCase struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hexBytes `json:"tree_hash"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	SignaturePriv           hexBytes `json:"signature_priv"`
	SignaturePub            hexBytes `json:"signature_pub"`
	EncryptionSecret        hexBytes `json:"encryption_secret"`
	SenderDataSecret        hexBytes `json:"sender_data_secret"`
	MembershipKey           hexBytes `json:"membership_key"`

	Proposal        hexBytes `json:"proposal"`
	ProposalPriv    hexBytes `json:"proposal_priv"`
	ProposalPub     hexBytes `json:"proposal_pub"`
	Commit          hexBytes `json:"commit"`
	CommitPriv      hexBytes `json:"commit_priv"`
	CommitPub       hexBytes `json:"commit_pub"`
	Application     hexBytes `json:"application"`
	ApplicationPriv hexBytes `json:"application_priv"`
}

// The vectors' group has two leaves and the sender is always leaf 1.
const (
	mpLeaves = 2
	mpSender = mls.LeafIndex(1)
)

// mpGroup is the state the vectors describe; each context it makes has a
// fresh secret tree, since unprotecting consumes generations that a later
// round trip reuses.
type mpGroup struct {
	c      *messageProtectionCase
	suite  *ciphersuite.Suite
	gc     mls.GroupContext
	signer *ciphersuite.SigningKey
}

func (g *mpGroup) context() (*mls.ProtectionContext, error) {
	tree, err := mls.NewSecretTree(g.suite, g.c.EncryptionSecret, mpLeaves, mls.SecretTreeConfig{})
	if err != nil {
		return nil, err
	}
	return mls.NewProtectionContext(&g.gc, g.c.MembershipKey, g.c.SenderDataSecret, tree)
}

func (g *mpGroup) memberKey(leaf mls.LeafIndex) ([]byte, error) {
	if leaf != mpSender {
		return nil, fmt.Errorf("leaf %d is not the sender", leaf)
	}
	return g.c.SignaturePub, nil
}

// content is one kind of content in the vectors: how to decode it into a
// FramedContent, how to encode what came out of a message, and its forms.
type mpContent struct {
	name       string
	ct         mls.ContentType
	want       []byte
	priv, pub  []byte // encoded MLSMessages; pub is nil for application data
	fill       func(fc *mls.FramedContent) error
	encodeBody func(fc *mls.FramedContent) ([]byte, error)
}

func runMessageProtection(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *messageProtectionCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		signer, err := parseSigningKey(s, c.SignaturePriv, c.SignaturePub)
		if err != nil {
			return err
		}
		g := &mpGroup{c: c, suite: s, signer: signer, gc: mls.GroupContext{
			Version:                 mls.ProtocolVersionMLS10,
			CipherSuite:             s.ID(),
			GroupID:                 c.GroupID,
			Epoch:                   c.Epoch,
			TreeHash:                c.TreeHash,
			ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
		}}
		for _, k := range []mpContent{
			{
				name: "proposal", ct: mls.ContentTypeProposal, want: c.Proposal, priv: c.ProposalPriv, pub: c.ProposalPub,
				fill: func(fc *mls.FramedContent) error {
					fc.Proposal = new(mls.Proposal)
					return fc.Proposal.UnmarshalBinary(c.Proposal)
				},
				encodeBody: func(fc *mls.FramedContent) ([]byte, error) { return nonNil(fc.Proposal).MarshalBinary() },
			},
			{
				name: "commit", ct: mls.ContentTypeCommit, want: c.Commit, priv: c.CommitPriv, pub: c.CommitPub,
				fill: func(fc *mls.FramedContent) error {
					fc.Commit = new(mls.Commit)
					return fc.Commit.UnmarshalBinary(c.Commit)
				},
				encodeBody: func(fc *mls.FramedContent) ([]byte, error) { return nonNil(fc.Commit).MarshalBinary() },
			},
			{
				name: "application", ct: mls.ContentTypeApplication, want: c.Application, priv: c.ApplicationPriv,
				fill: func(fc *mls.FramedContent) error {
					fc.ApplicationData = c.Application
					return nil
				},
				encodeBody: func(fc *mls.FramedContent) ([]byte, error) { return fc.ApplicationData, nil },
			},
		} {
			if err := g.check(&k); err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
		}
		return nil
	})
}

// nonNil turns a missing body into an encoding error instead of a panic.
func nonNil[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

// check unprotects the vector's messages of kind k, then protects k's
// content in each allowed form and unprotects it again.
func (g *mpGroup) check(k *mpContent) error {
	if err := g.unprotectVector(k, k.priv, mls.WireFormatPrivateMessage); err != nil {
		return fmt.Errorf("PrivateMessage: %w", err)
	}
	if k.pub != nil {
		if err := g.unprotectVector(k, k.pub, mls.WireFormatPublicMessage); err != nil {
			return fmt.Errorf("PublicMessage: %w", err)
		}
	}
	fc := mls.FramedContent{
		GroupID:     g.c.GroupID,
		Epoch:       g.c.Epoch,
		Sender:      mls.Sender{SenderType: mls.SenderTypeMember, LeafIndex: mpSender},
		ContentType: k.ct,
	}
	if err := k.fill(&fc); err != nil {
		return err
	}
	if err := g.roundTrip(k, &fc, mls.WireFormatPrivateMessage); err != nil {
		return fmt.Errorf("PrivateMessage round trip: %w", err)
	}
	err := g.roundTrip(k, &fc, mls.WireFormatPublicMessage)
	if k.ct != mls.ContentTypeApplication {
		if err != nil {
			return fmt.Errorf("PublicMessage round trip: %w", err)
		}
		return nil
	}
	if !errors.Is(err, mls.ErrPublicApplication) {
		return fmt.Errorf("application data as a PublicMessage: got %v, want ErrPublicApplication", err)
	}
	return g.rejectPublicApplication(&fc)
}

// unprotectVector unprotects an encoded MLSMessage of the vectors and
// compares its content with k.want.
func (g *mpGroup) unprotectVector(k *mpContent, encoded []byte, wf mls.WireFormat) error {
	pc, err := g.context()
	if err != nil {
		return err
	}
	var msg mls.MLSMessage
	if err := msg.UnmarshalBinary(encoded); err != nil {
		return err
	}
	if msg.WireFormat() != wf {
		return fmt.Errorf("message has wire format %v", msg.WireFormat())
	}
	var ac *mls.AuthenticatedContent
	if wf == mls.WireFormatPublicMessage {
		ac, err = pc.UnprotectPublic(msg.PublicMessage, g.memberKey)
	} else {
		ac, err = pc.UnprotectPrivate(msg.PrivateMessage, g.memberKey)
	}
	if err != nil {
		return err
	}
	return g.compare(k, ac)
}

// compare checks that ac carries k's content from the vectors' sender.
func (g *mpGroup) compare(k *mpContent, ac *mls.AuthenticatedContent) error {
	fc := &ac.Content
	if fc.ContentType != k.ct {
		return fmt.Errorf("content type %v, want %v", fc.ContentType, k.ct)
	}
	if fc.Sender != (mls.Sender{SenderType: mls.SenderTypeMember, LeafIndex: mpSender}) {
		return fmt.Errorf("sender %+v, want member %d", fc.Sender, mpSender)
	}
	body, err := k.encodeBody(fc)
	if err != nil {
		return err
	}
	if !bytes.Equal(body, k.want) {
		return mismatch(k.name, body, k.want)
	}
	return nil
}

// roundTrip signs fc for wf, protects it, encodes and decodes the message,
// and unprotects it with a receiver's fresh context.
func (g *mpGroup) roundTrip(k *mpContent, fc *mls.FramedContent, wf mls.WireFormat) error {
	sender, err := g.context()
	if err != nil {
		return err
	}
	ac, err := sender.Sign(g.signer, wf, fc)
	if err != nil {
		return err
	}
	if k.ct == mls.ContentTypeCommit {
		// Any tag will do: nothing here checks it against a key schedule.
		ac.Auth.ConfirmationTag = g.suite.MAC(g.c.MembershipKey, []byte("confirmation"))
	}
	var msg mls.MLSMessage
	if wf == mls.WireFormatPublicMessage {
		msg.PublicMessage, err = sender.ProtectPublic(ac)
	} else {
		msg.PrivateMessage, err = sender.ProtectPrivate(ac, 0)
	}
	if err != nil {
		return err
	}
	encoded, err := msg.MarshalBinary()
	if err != nil {
		return err
	}
	return g.unprotectVector(k, encoded, wf)
}

// rejectPublicApplication frames application data as a PublicMessage by
// hand, validly signed and tagged, and checks that the receiver rejects it.
func (g *mpGroup) rejectPublicApplication(fc *mls.FramedContent) error {
	pc, err := g.context()
	if err != nil {
		return err
	}
	tbs, err := fc.TBS(mls.WireFormatPublicMessage, pc.GroupContext())
	if err != nil {
		return err
	}
	sig, err := g.suite.SignWithLabel(g.signer, "FramedContentTBS", tbs)
	if err != nil {
		return err
	}
	m := &mls.PublicMessage{Content: *fc, Auth: mls.FramedContentAuthData{Signature: sig}}
	tbm, err := m.TBM(pc.GroupContext())
	if err != nil {
		return err
	}
	m.MembershipTag = g.suite.MAC(g.c.MembershipKey, tbm)
	if _, err := pc.UnprotectPublic(m, g.memberKey); !errors.Is(err, mls.ErrPublicApplication) {
		return fmt.Errorf("unprotecting application data from a PublicMessage: got %v, want ErrPublicApplication", err)
	}
	return nil
}

// parseSigningKey parses a signature private key of the vectors, which
// store ECDSA scalars without leading zero bytes (one P-521 key is 65
// bytes): such a key is padded to the size of the coordinates of the
// uncompressed public key pub. The parsed key must match pub.
func parseSigningKey(s *ciphersuite.Suite, priv, pub []byte) (*ciphersuite.SigningKey, error) {
	k, err := s.ParseSigningKey(priv)
	if err != nil && len(pub)%2 == 1 && pub[0] == 0x04 {
		if n := (len(pub) - 1) / 2; len(priv) < n {
			k, err = s.ParseSigningKey(append(make([]byte, n-len(priv)), priv...))
		}
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.PublicKey(), pub) {
		return nil, errors.New("signature_priv does not match signature_pub")
	}
	return k, nil
}
