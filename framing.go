package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// WireFormat identifies the kind of message an MLSMessage carries (RFC 9420
// section 6 and the "MLS Wire Formats" IANA registry).
type WireFormat uint16

// The wire formats of RFC 9420.
const (
	WireFormatPublicMessage  WireFormat = 1
	WireFormatPrivateMessage WireFormat = 2
	WireFormatWelcome        WireFormat = 3
	WireFormatGroupInfo      WireFormat = 4
	WireFormatKeyPackage     WireFormat = 5
)

// String returns the RFC 9420 name of w.
func (w WireFormat) String() string {
	return enumName(w, "WireFormat", "mls_public_message", "mls_private_message", "mls_welcome", "mls_group_info", "mls_key_package")
}

// ContentType is the kind of content a framed message carries (RFC 9420
// section 6).
type ContentType uint8

// The content types of RFC 9420.
const (
	ContentTypeApplication ContentType = 1
	ContentTypeProposal    ContentType = 2
	ContentTypeCommit      ContentType = 3
)

// String returns the RFC 9420 name of c.
func (c ContentType) String() string {
	return enumName(c, "ContentType", "application", "proposal", "commit")
}

// SenderType is the kind of party that sent a message (RFC 9420 section 6).
type SenderType uint8

// The sender types of RFC 9420.
const (
	SenderTypeMember            SenderType = 1
	SenderTypeExternal          SenderType = 2
	SenderTypeNewMemberProposal SenderType = 3
	SenderTypeNewMemberCommit   SenderType = 4
)

// String returns the RFC 9420 name of s.
func (s SenderType) String() string {
	return enumName(s, "SenderType", "member", "external", "new_member_proposal", "new_member_commit")
}

// Sender identifies who sent a framed message (RFC 9420 section 6).
// LeafIndex is used by member senders, SenderIndex (an index into the
// external_senders extension) by external ones; new members use neither.
// Encoding fails if a field of another sender type is set.
type Sender struct {
	SenderType  SenderType
	LeafIndex   LeafIndex
	SenderIndex uint32
}

func (s *Sender) marshal(b *codec.Builder) {
	b.AddUint8(uint8(s.SenderType))
	switch s.SenderType {
	case SenderTypeMember:
		if s.SenderIndex != 0 {
			b.SetError(errors.New("mls: member Sender with sender_index"))
		}
		b.AddUint32(uint32(s.LeafIndex))
	case SenderTypeExternal:
		if s.LeafIndex != 0 {
			b.SetError(errors.New("mls: external Sender with leaf_index"))
		}
		b.AddUint32(s.SenderIndex)
	case SenderTypeNewMemberProposal, SenderTypeNewMemberCommit:
		if s.LeafIndex != 0 || s.SenderIndex != 0 {
			b.SetError(fmt.Errorf("mls: %v Sender with an index", s.SenderType))
		}
	default:
		b.SetError(fmt.Errorf("mls: invalid sender_type %d", uint8(s.SenderType)))
	}
}

func (s *Sender) unmarshal(r *codec.Reader) {
	*s = Sender{SenderType: SenderType(r.ReadUint8())}
	switch s.SenderType {
	case SenderTypeMember:
		s.LeafIndex = LeafIndex(r.ReadUint32())
	case SenderTypeExternal:
		s.SenderIndex = r.ReadUint32()
	case SenderTypeNewMemberProposal, SenderTypeNewMemberCommit:
	default:
		r.SetError(fmt.Errorf("invalid sender_type %d", uint8(s.SenderType)))
	}
}

// readContentType reads a ContentType, failing on values RFC 9420 does not
// define: what follows it depends on the value.
func readContentType(r *codec.Reader) ContentType {
	ct := ContentType(r.ReadUint8())
	if r.Err() == nil && (ct < ContentTypeApplication || ct > ContentTypeCommit) {
		r.SetError(fmt.Errorf("invalid content_type %d", uint8(ct)))
	}
	return ct
}

// marshalContentBody writes the content_type-selected part shared by
// FramedContent and PrivateMessageContent: the field that ct selects must be
// set, the others nil.
func marshalContentBody(b *codec.Builder, ct ContentType, app []byte, p *Proposal, c *Commit) {
	switch {
	case ct == ContentTypeApplication && p == nil && c == nil:
		b.AddOpaque(app)
	case ct == ContentTypeProposal && p != nil && app == nil && c == nil:
		p.marshal(b)
	case ct == ContentTypeCommit && c != nil && app == nil && p == nil:
		c.marshal(b)
	default:
		b.SetError(fmt.Errorf("mls: content of type %v must hold exactly the matching field", ct))
	}
}

// unmarshalContentBody reads the part that marshalContentBody writes.
func unmarshalContentBody(r *codec.Reader, ct ContentType, app *[]byte, p **Proposal, c **Commit) {
	*app, *p, *c = nil, nil, nil
	switch ct {
	case ContentTypeApplication:
		*app = r.ReadOpaque()
	case ContentTypeProposal:
		*p = new(Proposal)
		(*p).unmarshal(r)
	case ContentTypeCommit:
		*c = new(Commit)
		(*c).unmarshal(r)
	default:
		r.SetError(fmt.Errorf("invalid content_type %d", uint8(ct)))
	}
}

// FramedContent is the content of a handshake or application message with
// its group, epoch and sender (RFC 9420 section 6). ContentType selects
// which of ApplicationData, Proposal and Commit is used; the others must be
// nil.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte
	Proposal          *Proposal
	Commit            *Commit
}

func (c *FramedContent) marshal(b *codec.Builder) {
	c.marshalHeader(b)
	marshalContentBody(b, c.ContentType, c.ApplicationData, c.Proposal, c.Commit)
}

// marshalHeader writes the fields before the content body.
func (c *FramedContent) marshalHeader(b *codec.Builder) {
	b.AddOpaque(c.GroupID)
	b.AddUint64(c.Epoch)
	c.Sender.marshal(b)
	b.AddOpaque(c.AuthenticatedData)
	b.AddUint8(uint8(c.ContentType))
}

// signedBody returns the encoded body of a commit as it was signed (see
// Commit.signed), or nil when c holds something else or a commit built
// in memory without it.
func (c *FramedContent) signedBody() []byte {
	if c.ContentType != ContentTypeCommit || c.Commit == nil || c.ApplicationData != nil || c.Proposal != nil {
		return nil
	}
	return c.Commit.signed
}

// marshalSigned writes c as marshal does, taking a commit's body as it was
// signed rather than encoding it again: the signature and the transcript
// hash cover the content as sent (RFC 9420 sections 6.1 and 8.2), and
// decoding accepts only the one encoding of each value, so the bytes are
// the same.
func (c *FramedContent) marshalSigned(b *codec.Builder) {
	body := c.signedBody()
	if body == nil {
		c.marshal(b)
		return
	}
	c.marshalHeader(b)
	b.AddRaw(body)
}

func (c *FramedContent) unmarshal(r *codec.Reader) {
	c.GroupID = r.ReadOpaque()
	c.Epoch = r.ReadUint64()
	c.Sender.unmarshal(r)
	c.AuthenticatedData = r.ReadOpaque()
	c.ContentType = readContentType(r)
	unmarshalContentBody(r, c.ContentType, &c.ApplicationData, &c.Proposal, &c.Commit)
}

// MarshalBinary returns the encoding of c.
func (c *FramedContent) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalBinary decodes c from data, which must hold exactly one FramedContent.
func (c *FramedContent) UnmarshalBinary(data []byte) error {
	return decode("FramedContent", data, c)
}

// senderSignsGroupContext reports whether FramedContentTBS includes the
// GroupContext for content from s (RFC 9420 section 6.1).
func senderSignsGroupContext(s SenderType) bool {
	return s == SenderTypeMember || s == SenderTypeNewMemberCommit
}

// marshalTBS writes FramedContentTBS for c sent as wireFormat.
func (c *FramedContent) marshalTBS(b *codec.Builder, wireFormat WireFormat, groupContext []byte) {
	if body := c.signedBody(); body != nil {
		// One allocation for all of it, with room for the auth data that
		// AuthenticatedContentTBM appends (an ML-DSA-87 signature is 4,627
		// bytes).
		b.Grow(len(body) + len(groupContext) + len(c.GroupID) + len(c.AuthenticatedData) + 5120)
	}
	b.AddUint16(uint16(ProtocolVersionMLS10))
	b.AddUint16(uint16(wireFormat))
	c.marshalSigned(b)
	if senderSignsGroupContext(c.Sender.SenderType) {
		if groupContext == nil {
			b.SetError(fmt.Errorf("mls: FramedContentTBS of a %v sender needs the GroupContext", c.Sender.SenderType))
		}
		b.AddRaw(groupContext)
	}
}

// TBS returns the encoded FramedContentTBS, the content that the message
// signature signs with the label "FramedContentTBS" (RFC 9420 section 6.1).
// groupContext is the encoded GroupContext of the epoch (see
// GroupContext.MarshalBinary); it is included for member and
// new_member_commit senders, and ignored for the others.
func (c *FramedContent) TBS(wireFormat WireFormat, groupContext []byte) ([]byte, error) {
	b := codec.NewBuilder(256 + len(groupContext))
	c.marshalTBS(b, wireFormat, groupContext)
	return b.Bytes()
}

// FramedContentAuthData authenticates a FramedContent: the sender's
// signature and, for commits only, the confirmation tag (RFC 9420 section
// 6.1). Its encoding depends on the content type of the content it belongs
// to.
type FramedContentAuthData struct {
	Signature       []byte
	ConfirmationTag []byte
}

func (a *FramedContentAuthData) marshal(b *codec.Builder, ct ContentType) {
	b.AddOpaque(a.Signature)
	if ct == ContentTypeCommit {
		b.AddOpaque(a.ConfirmationTag)
	} else if a.ConfirmationTag != nil {
		b.SetError(fmt.Errorf("mls: confirmation_tag on %v content", ct))
	}
}

func (a *FramedContentAuthData) unmarshal(r *codec.Reader, ct ContentType) {
	a.Signature = r.ReadOpaque()
	a.ConfirmationTag = nil
	if ct == ContentTypeCommit {
		a.ConfirmationTag = r.ReadOpaque()
	}
}

// AuthenticatedContent is a FramedContent with its authentication data and
// the wire format it is or will be sent in (RFC 9420 section 6). Its
// encoding is what a ProposalRef and the transcript hashes are computed
// over. WireFormat must be mls_public_message or mls_private_message.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

func (ac *AuthenticatedContent) marshal(b *codec.Builder) {
	if !isFramedWireFormat(ac.WireFormat) {
		b.SetError(fmt.Errorf("mls: AuthenticatedContent with wire_format %v", ac.WireFormat))
	}
	b.AddUint16(uint16(ac.WireFormat))
	ac.Content.marshal(b)
	ac.Auth.marshal(b, ac.Content.ContentType)
}

func (ac *AuthenticatedContent) unmarshal(r *codec.Reader) {
	ac.WireFormat = WireFormat(r.ReadUint16())
	if r.Err() == nil && !isFramedWireFormat(ac.WireFormat) {
		r.SetError(fmt.Errorf("invalid wire_format %d for framed content", uint16(ac.WireFormat)))
	}
	ac.Content.unmarshal(r)
	ac.Auth.unmarshal(r, ac.Content.ContentType)
}

func isFramedWireFormat(w WireFormat) bool {
	return w == WireFormatPublicMessage || w == WireFormatPrivateMessage
}

// MarshalBinary returns the encoding of ac.
func (ac *AuthenticatedContent) MarshalBinary() ([]byte, error) { return encode(ac) }

// UnmarshalBinary decodes ac from data, which must hold exactly one
// AuthenticatedContent.
func (ac *AuthenticatedContent) UnmarshalBinary(data []byte) error {
	return decode("AuthenticatedContent", data, ac)
}

// TBS returns the encoded FramedContentTBS of ac's content and wire format;
// see FramedContent.TBS.
func (ac *AuthenticatedContent) TBS(groupContext []byte) ([]byte, error) {
	return ac.Content.TBS(ac.WireFormat, groupContext)
}

// PublicMessage is a signed but unencrypted handshake message (RFC 9420
// section 6.2). MembershipTag is present exactly when the sender is a
// member.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte
}

func (m *PublicMessage) marshal(b *codec.Builder) {
	m.Content.marshal(b)
	m.Auth.marshal(b, m.Content.ContentType)
	if m.Content.Sender.SenderType == SenderTypeMember {
		b.AddOpaque(m.MembershipTag)
	} else if m.MembershipTag != nil {
		b.SetError(fmt.Errorf("mls: membership_tag on a PublicMessage from a %v sender", m.Content.Sender.SenderType))
	}
}

func (m *PublicMessage) unmarshal(r *codec.Reader) {
	m.Content.unmarshal(r)
	m.Auth.unmarshal(r, m.Content.ContentType)
	m.MembershipTag = nil
	if m.Content.Sender.SenderType == SenderTypeMember {
		m.MembershipTag = r.ReadOpaque()
	}
}

// MarshalBinary returns the encoding of m.
func (m *PublicMessage) MarshalBinary() ([]byte, error) { return encode(m) }

// UnmarshalBinary decodes m from data, which must hold exactly one PublicMessage.
func (m *PublicMessage) UnmarshalBinary(data []byte) error {
	return decode("PublicMessage", data, m)
}

// AuthenticatedContent returns the AuthenticatedContent that m carries.
func (m *PublicMessage) AuthenticatedContent() *AuthenticatedContent {
	return &AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: m.Content, Auth: m.Auth}
}

// TBM returns the encoded AuthenticatedContentTBM, the input of the
// membership tag MAC (RFC 9420 section 6.2). groupContext is the encoded
// GroupContext of the epoch.
func (m *PublicMessage) TBM(groupContext []byte) ([]byte, error) {
	b := codec.NewBuilder(256 + len(groupContext))
	m.Content.marshalTBS(b, WireFormatPublicMessage, groupContext)
	m.Auth.marshal(b, m.Content.ContentType)
	return b.Bytes()
}
