package mls

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
