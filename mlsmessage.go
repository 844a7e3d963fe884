package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/internal/codec"
)

// MLSMessage is the envelope of every message MLS clients exchange (RFC
// 9420 section 6): exactly one of its fields is set, and WireFormat names
// which. The version is always mls10; decoding rejects any other, since
// the layout of other versions is unknown.
type MLSMessage struct {
	PublicMessage  *PublicMessage
	PrivateMessage *PrivateMessage
	Welcome        *Welcome
	GroupInfo      *GroupInfo
	KeyPackage     *KeyPackage
}

// WireFormat returns the wire_format of m, or 0 if m does not hold exactly
// one message.
func (m *MLSMessage) WireFormat() WireFormat {
	var w WireFormat
	n := 0
	for _, f := range []struct {
		set bool
		w   WireFormat
	}{
		{m.PublicMessage != nil, WireFormatPublicMessage},
		{m.PrivateMessage != nil, WireFormatPrivateMessage},
		{m.Welcome != nil, WireFormatWelcome},
		{m.GroupInfo != nil, WireFormatGroupInfo},
		{m.KeyPackage != nil, WireFormatKeyPackage},
	} {
		if f.set {
			w = f.w
			n++
		}
	}
	if n != 1 {
		return 0
	}
	return w
}

func (m *MLSMessage) marshal(b *codec.Builder) {
	w := m.WireFormat()
	b.AddUint16(uint16(ProtocolVersionMLS10))
	b.AddUint16(uint16(w))
	switch w {
	case WireFormatPublicMessage:
		m.PublicMessage.marshal(b)
	case WireFormatPrivateMessage:
		m.PrivateMessage.marshal(b)
	case WireFormatWelcome:
		m.Welcome.marshal(b)
	case WireFormatGroupInfo:
		m.GroupInfo.marshal(b)
	case WireFormatKeyPackage:
		m.KeyPackage.marshal(b)
	default:
		b.SetError(errors.New("mls: MLSMessage must hold exactly one message"))
	}
}

func (m *MLSMessage) unmarshal(r *codec.Reader) {
	*m = MLSMessage{}
	if v := ProtocolVersion(r.ReadUint16()); r.Err() == nil && v != ProtocolVersionMLS10 {
		r.SetError(fmt.Errorf("unsupported version %d", uint16(v)))
		return
	}
	var body unmarshaler
	switch w := WireFormat(r.ReadUint16()); w {
	case WireFormatPublicMessage:
		m.PublicMessage = new(PublicMessage)
		body = m.PublicMessage
	case WireFormatPrivateMessage:
		m.PrivateMessage = new(PrivateMessage)
		body = m.PrivateMessage
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
		body = m.Welcome
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
		body = m.GroupInfo
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
		body = m.KeyPackage
	default:
		r.SetError(fmt.Errorf("invalid wire_format %d", uint16(w)))
		return
	}
	body.unmarshal(r)
}

// MarshalBinary returns the encoding of m.
func (m *MLSMessage) MarshalBinary() ([]byte, error) { return encode(m) }

// UnmarshalBinary decodes m from data, which must hold exactly one MLSMessage.
func (m *MLSMessage) UnmarshalBinary(data []byte) error { return decode("MLSMessage", data, m) }
