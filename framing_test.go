package mls

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/arbormls/mls/internal/codec"
)

var messagesJSON struct {
	once  sync.Once
	cases []map[string]hexBytes
}

// messageVectors returns the cases of messages.json, by kind. They are read
// once; callers must not modify them.
func messageVectors(t testing.TB) []map[string]hexBytes {
	t.Helper()
	messagesJSON.once.Do(func() { loadVectors(t, "messages.json", &messagesJSON.cases) })
	if messagesJSON.cases == nil {
		t.Fatal("messages.json not loaded")
	}
	return messagesJSON.cases
}

func TestMLSMessageRejects(t *testing.T) {
	c := messageVectors(t)[0]
	var m MLSMessage
	for _, kind := range []string{"mls_welcome", "mls_group_info", "mls_key_package", "public_message_commit", "private_message"} {
		data := c[kind]
		roundTrip(t, kind, data, &m)

		bad := bytes.Clone(data)
		bad[3] = 6 // wire_format
		expectMalformed(t, kind+" wire_format 6", m.UnmarshalBinary(bad), nil)
		bad[2], bad[3] = 1, 1 // wire_format 0x0101
		expectMalformed(t, kind+" wire_format 0x0101", m.UnmarshalBinary(bad), nil)

		bad = bytes.Clone(data)
		bad[1] = 2 // version
		expectMalformed(t, kind+" version 2", m.UnmarshalBinary(bad), nil)

		expectMalformed(t, kind+" trailing byte", m.UnmarshalBinary(append(bytes.Clone(data), 0)), codec.ErrTrailingData)
		for n := range len(data) {
			if err := m.UnmarshalBinary(data[:n]); err == nil {
				t.Fatalf("%s truncated to %d bytes accepted", kind, n)
			}
		}
	}
	if _, err := (&MLSMessage{}).MarshalBinary(); err == nil {
		t.Fatal("empty MLSMessage encoded")
	}
	if _, err := (&MLSMessage{Welcome: &Welcome{}, GroupInfo: &GroupInfo{}}).MarshalBinary(); err == nil {
		t.Fatal("MLSMessage with two messages encoded")
	}
}

// publicMessage decodes the public_message_<kind> of the first messages.json case.
func publicMessage(t *testing.T, kind string) *PublicMessage {
	t.Helper()
	var m MLSMessage
	if err := m.UnmarshalBinary(messageVectors(t)[0]["public_message_"+kind]); err != nil {
		t.Fatal(err)
	}
	return m.PublicMessage
}

func TestPublicMessageFields(t *testing.T) {
	pm := publicMessage(t, "commit")
	data, err := pm.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The membership tag is there exactly for member senders.
	member := pm.Content.Sender.SenderType == SenderTypeMember
	if member != (pm.MembershipTag != nil) {
		t.Fatalf("sender %v with membership tag %x", pm.Content.Sender.SenderType, pm.MembershipTag)
	}
	if pm.Auth.ConfirmationTag == nil {
		t.Fatal("commit without confirmation tag")
	}
	var got PublicMessage
	roundTrip(t, "PublicMessage", data, &got)

	// Confirmation tags only belong to commits.
	app := publicMessage(t, "application")
	app.Auth.ConfirmationTag = []byte{1}
	if _, err := app.MarshalBinary(); err == nil {
		t.Fatal("application message with confirmation tag encoded")
	}

	// A non-member sender carries no membership tag.
	np := publicMessage(t, "proposal")
	np.Content.Sender = Sender{SenderType: SenderTypeNewMemberProposal}
	np.MembershipTag = nil
	data, err = np.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, "new member PublicMessage", data, &got)
	if got.MembershipTag != nil {
		t.Fatal("membership tag decoded for a new member sender")
	}
	np.MembershipTag = []byte{}
	if _, err := np.MarshalBinary(); err == nil {
		t.Fatal("membership tag encoded for a new member sender")
	}
	// FramedContentTBS of a new_member_proposal sender has no GroupContext.
	tbs, err := np.Content.TBS(WireFormatPublicMessage, nil)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := np.Content.MarshalBinary()
	if !bytes.Equal(tbs, append([]byte{0, 1, 0, 1}, content...)) {
		t.Fatal("FramedContentTBS of a new member is not version, wire_format, content")
	}
}

func TestFramingRejects(t *testing.T) {
	pm := publicMessage(t, "proposal")
	data, _ := pm.MarshalBinary()
	// group_id<V>, epoch, then sender_type.
	r := codec.NewReader(data)
	r.ReadOpaque()
	r.ReadUint64()
	at := len(data) - r.Len()
	if SenderType(data[at]) != pm.Content.Sender.SenderType {
		t.Fatal("sender_type not found")
	}
	var got PublicMessage
	for _, st := range []byte{0, 5, 255} {
		bad := bytes.Clone(data)
		bad[at] = st
		expectMalformed(t, fmt.Sprintf("sender_type %d", st), got.UnmarshalBinary(bad), nil)
	}

	for _, s := range []Sender{
		{SenderType: SenderTypeMember, SenderIndex: 1},
		{SenderType: SenderTypeExternal, LeafIndex: 1},
		{SenderType: SenderTypeNewMemberCommit, LeafIndex: 1},
		{SenderType: 9},
	} {
		c := pm.Content
		c.Sender = s
		if _, err := c.MarshalBinary(); err == nil {
			t.Fatalf("inconsistent sender %+v encoded", s)
		}
	}
	for _, c := range []FramedContent{
		{ContentType: ContentTypeProposal},
		{ContentType: ContentTypeApplication, Proposal: pm.Content.Proposal},
		{ContentType: ContentTypeCommit, Commit: &Commit{}, ApplicationData: []byte{}},
		{ContentType: 4, ApplicationData: []byte{}},
	} {
		if _, err := c.MarshalBinary(); err == nil {
			t.Fatalf("inconsistent content %+v encoded", c)
		}
	}

	// content_type of a PrivateMessage.
	var m MLSMessage
	if err := m.UnmarshalBinary(messageVectors(t)[0]["private_message"]); err != nil {
		t.Fatal(err)
	}
	priv, _ := m.PrivateMessage.MarshalBinary()
	at = len(m.PrivateMessage.GroupID) + 1 + 8 // a short group_id has a 1-byte length
	if ContentType(priv[at]) != m.PrivateMessage.ContentType {
		t.Fatal("content_type not found")
	}
	var pmsg PrivateMessage
	for _, ct := range []byte{0, 4} {
		bad := bytes.Clone(priv)
		bad[at] = ct
		expectMalformed(t, fmt.Sprintf("content_type %d", ct), pmsg.UnmarshalBinary(bad), nil)
	}

	// AuthenticatedContent only frames public and private messages.
	ac := pm.AuthenticatedContent()
	acData, err := ac.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var acGot AuthenticatedContent
	roundTrip(t, "AuthenticatedContent", acData, &acGot)
	acData[1] = byte(WireFormatWelcome)
	expectMalformed(t, "AuthenticatedContent wire_format", acGot.UnmarshalBinary(acData), nil)
	ac.WireFormat = WireFormatKeyPackage
	if _, err := ac.MarshalBinary(); err == nil {
		t.Fatal("AuthenticatedContent with wire_format key_package encoded")
	}
}

func TestPrivateMessageContent(t *testing.T) {
	for _, kind := range []string{"application", "proposal", "commit"} {
		pm := publicMessage(t, kind)
		for _, padding := range []int{0, 1, 100} {
			pc := PrivateMessageContent{
				ContentType:     pm.Content.ContentType,
				ApplicationData: pm.Content.ApplicationData,
				Proposal:        pm.Content.Proposal,
				Commit:          pm.Content.Commit,
				Auth:            pm.Auth,
				Padding:         padding,
			}
			data, err := pc.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got PrivateMessageContent
			if err := got.UnmarshalWithContentType(data, pc.ContentType); err != nil {
				t.Fatalf("%s padding %d: %v", kind, padding, err)
			}
			if got.Padding != padding || got.ContentType != pc.ContentType {
				t.Fatalf("%s: padding %d, content type %v", kind, got.Padding, got.ContentType)
			}
			again, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(again, data) {
				t.Fatalf("%s: re-encoding differs (%v)", kind, err)
			}
			if padding > 0 {
				bad := bytes.Clone(data)
				bad[len(bad)-1-padding/2] = 1
				expectMalformed(t, "non-zero padding", got.UnmarshalWithContentType(bad, pc.ContentType), nil)
			}
			expectMalformed(t, "content type 0", got.UnmarshalWithContentType(data, 0), nil)
		}
	}
	if _, err := (&PrivateMessageContent{ContentType: ContentTypeApplication, Padding: -1}).MarshalBinary(); err == nil {
		t.Fatal("negative padding encoded")
	}
}

func TestSenderDataAndAAD(t *testing.T) {
	sd := SenderData{LeafIndex: 7, Generation: 0x01020304, ReuseGuard: [4]byte{9, 8, 7, 6}}
	data, err := sd.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, []byte{0, 0, 0, 7, 1, 2, 3, 4, 9, 8, 7, 6}) {
		t.Fatalf("SenderData encoding %x", data)
	}
	var got SenderData
	roundTrip(t, "SenderData", data, &got)
	if got != sd {
		t.Fatalf("got %+v", got)
	}
	expectMalformed(t, "short SenderData", got.UnmarshalBinary(data[:11]), codec.ErrTruncated)

	m := PrivateMessage{GroupID: []byte("g"), Epoch: 2, ContentType: ContentTypeCommit, AuthenticatedData: []byte("ad")}
	aad, _ := m.SenderDataAAD().MarshalBinary()
	if !bytes.Equal(aad, []byte{1, 'g', 0, 0, 0, 0, 0, 0, 0, 2, 3}) {
		t.Fatalf("SenderDataAAD %x", aad)
	}
	var sa SenderDataAAD
	roundTrip(t, "SenderDataAAD", aad, &sa)
	caad, _ := m.ContentAAD().MarshalBinary()
	if !bytes.Equal(caad, append(bytes.Clone(aad), 2, 'a', 'd')) {
		t.Fatalf("PrivateContentAAD %x", caad)
	}
	var ca PrivateContentAAD
	roundTrip(t, "PrivateContentAAD", caad, &ca)
}
