package mls

import (
	"encoding/binary"
	"errors"

	"github.com/arbormls/mls/internal/codec"
)

// PrivateMessage is an encrypted handshake or application message (RFC 9420
// section 6.3). EncryptedSenderData holds an encrypted SenderData,
// Ciphertext an encrypted PrivateMessageContent.
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

// The fields of PrivateMessage up to authenticated_data are those of
// PrivateContentAAD.

func (m *PrivateMessage) marshal(b *codec.Builder) {
	m.ContentAAD().marshal(b)
	b.AddOpaque(m.EncryptedSenderData)
	b.AddOpaque(m.Ciphertext)
}

func (m *PrivateMessage) unmarshal(r *codec.Reader) {
	var aad PrivateContentAAD
	aad.unmarshal(r)
	m.GroupID, m.Epoch, m.ContentType, m.AuthenticatedData = aad.GroupID, aad.Epoch, aad.ContentType, aad.AuthenticatedData
	m.EncryptedSenderData = r.ReadOpaque()
	m.Ciphertext = r.ReadOpaque()
}

// MarshalBinary returns the encoding of m.
func (m *PrivateMessage) MarshalBinary() ([]byte, error) { return encode(m) }

// UnmarshalBinary decodes m from data, which must hold exactly one PrivateMessage.
func (m *PrivateMessage) UnmarshalBinary(data []byte) error {
	return decode("PrivateMessage", data, m)
}

// PrivateMessageContent is the plaintext of PrivateMessage.Ciphertext (RFC
// 9420 section 6.3.1): the content that ContentType selects (the other two
// fields nil), its authentication data, and Padding zero bytes.
//
// The content type travels outside the plaintext, in the PrivateMessage, so
// decoding takes it as a parameter: see UnmarshalWithContentType.
type PrivateMessageContent struct {
	ContentType     ContentType
	ApplicationData []byte
	Proposal        *Proposal
	Commit          *Commit
	Auth            FramedContentAuthData
	// Padding is the number of zero bytes after the content.
	Padding int
}

func (c *PrivateMessageContent) marshal(b *codec.Builder) {
	marshalContentBody(b, c.ContentType, c.ApplicationData, c.Proposal, c.Commit)
	c.Auth.marshal(b, c.ContentType)
	if c.Padding < 0 {
		b.SetError(errors.New("mls: negative padding"))
		return
	}
	b.AddRaw(make([]byte, c.Padding))
}

// unmarshal reads the content of type c.ContentType and takes every byte
// left as padding, which must be zero (RFC 9420 section 6.3.1).
func (c *PrivateMessageContent) unmarshal(r *codec.Reader) {
	c.read(r, false)
	r.ReadRaw(c.Padding)
}

// read is unmarshal but for consuming the padding, which it checks and
// counts. With inPlace, application data is not copied: it stays in r's
// input.
func (c *PrivateMessageContent) read(r *codec.Reader, inPlace bool) {
	if inPlace && c.ContentType == ContentTypeApplication {
		c.ApplicationData = r.ReadVector().Remaining()
	} else {
		unmarshalContentBody(r, c.ContentType, &c.ApplicationData, &c.Proposal, &c.Commit)
	}
	c.Auth.unmarshal(r, c.ContentType)
	if r.Err() != nil {
		return
	}
	var nonzero byte
	for _, x := range r.Remaining() {
		nonzero |= x
	}
	if nonzero != 0 {
		r.SetError(errors.New("non-zero padding"))
		return
	}
	c.Padding = r.Len()
}

// MarshalBinary returns the encoding of c, padding included.
func (c *PrivateMessageContent) MarshalBinary() ([]byte, error) { return encode(c) }

// UnmarshalWithContentType decodes c from the decrypted plaintext data of a
// PrivateMessage whose content_type is ct. Every byte after the
// authentication data is padding and must be zero.
func (c *PrivateMessageContent) UnmarshalWithContentType(data []byte, ct ContentType) error {
	*c = PrivateMessageContent{ContentType: ct}
	return decode("PrivateMessageContent", data, c)
}

// unmarshalPlaintext is UnmarshalWithContentType for a plaintext just
// decrypted, which c may keep: application data, the one large field,
// stays in data instead of being copied, and so does the padding.
func (c *PrivateMessageContent) unmarshalPlaintext(data []byte, ct ContentType) error {
	*c = PrivateMessageContent{ContentType: ct}
	r := codec.NewReader(data)
	c.read(r, true)
	if err := r.Err(); err != nil {
		return &decodeError{typ: "PrivateMessageContent", err: err}
	}
	return nil
}

// SenderData is the plaintext of PrivateMessage.EncryptedSenderData (RFC
// 9420 section 6.3.2): which member sent the message, with which generation
// of its ratchet, and the reuse guard XORed into the nonce.
type SenderData struct {
	LeafIndex  LeafIndex
	Generation uint32
	ReuseGuard [4]byte
}

// senderDataSize is the size of an encoded SenderData.
const senderDataSize = 12

func (s *SenderData) marshal(b *codec.Builder) {
	b.AddUint32(uint32(s.LeafIndex))
	b.AddUint32(s.Generation)
	b.AddRaw(s.ReuseGuard[:])
}

// appendBinary appends the encoding of s to dst, as marshal writes it.
func (s *SenderData) appendBinary(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(s.LeafIndex))
	dst = binary.BigEndian.AppendUint32(dst, s.Generation)
	return append(dst, s.ReuseGuard[:]...)
}

func (s *SenderData) unmarshal(r *codec.Reader) {
	s.LeafIndex = LeafIndex(r.ReadUint32())
	s.Generation = r.ReadUint32()
	s.ReuseGuard = [4]byte{}
	copy(s.ReuseGuard[:], r.ReadRaw(4))
}

// MarshalBinary returns the encoding of s.
func (s *SenderData) MarshalBinary() ([]byte, error) { return encode(s) }

// UnmarshalBinary decodes s from data, which must hold exactly one SenderData.
func (s *SenderData) UnmarshalBinary(data []byte) error {
	if len(data) != senderDataSize {
		// Fails, with the decoder's error. Decoding into d rather than s
		// keeps a caller's SenderData on the stack.
		var d SenderData
		err := decode("SenderData", data, &d)
		*s = d
		return err
	}
	// Every receiver decodes one per message: without a Reader.
	s.LeafIndex = LeafIndex(binary.BigEndian.Uint32(data))
	s.Generation = binary.BigEndian.Uint32(data[4:])
	s.ReuseGuard = [4]byte(data[8:])
	return nil
}

// SenderDataAAD is the additional authenticated data of the sender data
// encryption: the first three fields of the PrivateMessage (RFC 9420
// section 6.3.2).
type SenderDataAAD struct {
	GroupID     []byte
	Epoch       uint64
	ContentType ContentType
}

func (a *SenderDataAAD) marshal(b *codec.Builder) {
	b.AddOpaque(a.GroupID)
	b.AddUint64(a.Epoch)
	b.AddUint8(uint8(a.ContentType))
}

func (a *SenderDataAAD) unmarshal(r *codec.Reader) {
	a.GroupID = r.ReadOpaque()
	a.Epoch = r.ReadUint64()
	a.ContentType = readContentType(r)
}

// MarshalBinary returns the encoding of a.
func (a *SenderDataAAD) MarshalBinary() ([]byte, error) { return encode(a) }

// UnmarshalBinary decodes a from data, which must hold exactly one SenderDataAAD.
func (a *SenderDataAAD) UnmarshalBinary(data []byte) error {
	return decode("SenderDataAAD", data, a)
}

// PrivateContentAAD is the additional authenticated data of the content
// encryption of a PrivateMessage (RFC 9420 section 6.3.1).
type PrivateContentAAD struct {
	GroupID           []byte
	Epoch             uint64
	ContentType       ContentType
	AuthenticatedData []byte
}

func (a *PrivateContentAAD) marshal(b *codec.Builder) {
	b.AddOpaque(a.GroupID)
	b.AddUint64(a.Epoch)
	b.AddUint8(uint8(a.ContentType))
	b.AddOpaque(a.AuthenticatedData)
}

func (a *PrivateContentAAD) unmarshal(r *codec.Reader) {
	a.GroupID = r.ReadOpaque()
	a.Epoch = r.ReadUint64()
	a.ContentType = readContentType(r)
	a.AuthenticatedData = r.ReadOpaque()
}

// MarshalBinary returns the encoding of a.
func (a *PrivateContentAAD) MarshalBinary() ([]byte, error) { return encode(a) }

// UnmarshalBinary decodes a from data, which must hold exactly one
// PrivateContentAAD.
func (a *PrivateContentAAD) UnmarshalBinary(data []byte) error {
	return decode("PrivateContentAAD", data, a)
}

// marshalAADs writes m's PrivateContentAAD and returns the length of its
// prefix that is m's SenderDataAAD: the sender data AAD is the content AAD
// without authenticated_data (RFC 9420 sections 6.3.1 and 6.3.2), so one
// encoding serves both.
func (m *PrivateMessage) marshalAADs(b *codec.Builder) int {
	start := b.Len()
	sd := SenderDataAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType}
	sd.marshal(b)
	n := b.Len() - start
	b.AddOpaque(m.AuthenticatedData)
	return n
}

// SenderDataAAD returns the AAD of m's sender data encryption.
func (m *PrivateMessage) SenderDataAAD() *SenderDataAAD {
	return &SenderDataAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType}
}

// ContentAAD returns the AAD of m's content encryption.
func (m *PrivateMessage) ContentAAD() *PrivateContentAAD {
	return &PrivateContentAAD{GroupID: m.GroupID, Epoch: m.Epoch, ContentType: m.ContentType, AuthenticatedData: m.AuthenticatedData}
}
