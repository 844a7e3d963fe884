package mls

import (
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// ErrBadConfirmationTag reports a confirmation_tag that does not match the
// confirmation key and confirmed transcript hash of the epoch: the sender
// and the receiver did not reach the same group state.
var ErrBadConfirmationTag = errors.New("mls: confirmation tag does not verify")

// ConfirmedTranscriptHash returns the confirmed_transcript_hash of the epoch
// that the commit ac starts (RFC 9420 section 8.2):
//
//	Hash(interim_transcript_hash_before || ConfirmedTranscriptHashInput)
//
// where ConfirmedTranscriptHashInput is ac's wire_format, content and
// signature. interimBefore is the interim transcript hash of the epoch the
// commit was sent in (empty for epoch 0). ac's confirmation tag is not
// covered, so it may still be unset.
func ConfirmedTranscriptHash(s *ciphersuite.Suite, interimBefore []byte, ac *AuthenticatedContent) ([]byte, error) {
	if ac.Content.ContentType != ContentTypeCommit {
		return nil, fmt.Errorf("mls: transcript hash of %v content, want commit", ac.Content.ContentType)
	}
	if !isFramedWireFormat(ac.WireFormat) {
		return nil, fmt.Errorf("mls: transcript hash of content with wire_format %v", ac.WireFormat)
	}
	// The input is hashed as it is written: the commit's body as it was
	// signed (see Commit.signed), which a sparse tree makes megabytes
	// long, goes to the hash without being copied or encoded again.
	h := s.NewHash()
	h.Write(interimBefore)
	c := &ac.Content
	body := c.signedBody()
	size := 64 + len(c.GroupID) + len(c.AuthenticatedData) + len(ac.Auth.Signature)
	if body == nil {
		size += 512
	}
	b := codec.NewBuilder(size)
	b.AddUint16(uint16(ac.WireFormat))
	if body == nil {
		c.marshal(b)
	} else {
		c.marshalHeader(b)
	}
	head, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	h.Write(head)
	h.Write(body)
	b = codec.NewBuilder(4 + len(ac.Auth.Signature))
	b.AddOpaque(ac.Auth.Signature)
	sig, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	h.Write(sig)
	return h.Sum(nil), nil
}

// InterimTranscriptHash returns the interim_transcript_hash that follows the
// confirmed transcript hash confirmed of a commit with the given
// confirmation tag (RFC 9420 section 8.2):
//
//	Hash(confirmed_transcript_hash || InterimTranscriptHashInput)
//
// A joiner computes it from the GroupInfo's confirmed_transcript_hash and
// confirmation_tag.
func InterimTranscriptHash(s *ciphersuite.Suite, confirmed, confirmationTag []byte) ([]byte, error) {
	if len(confirmationTag) > codec.MaxVarint {
		return nil, errors.New("mls: confirmation tag too long")
	}
	b := codec.NewBuilder(4)
	b.AddVarint(uint64(len(confirmationTag)))
	header, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	h := s.NewHash()
	h.Write(confirmed)
	h.Write(header)
	h.Write(confirmationTag)
	return h.Sum(nil), nil
}

// ConfirmationTag returns MAC(confirmation_key, confirmed_transcript_hash),
// the confirmation_tag of a commit or GroupInfo (RFC 9420 section 6.1).
func ConfirmationTag(s *ciphersuite.Suite, confirmationKey, confirmed []byte) []byte {
	return s.MAC(confirmationKey, confirmed)
}

// VerifyConfirmationTag checks tag against the confirmation key and
// confirmed transcript hash of an epoch in constant time, returning
// ErrBadConfirmationTag when it does not match.
func VerifyConfirmationTag(s *ciphersuite.Suite, confirmationKey, confirmed, tag []byte) error {
	if confirmationKey == nil {
		return errSecretErased
	}
	if !s.VerifyMAC(confirmationKey, confirmed, tag) {
		return ErrBadConfirmationTag
	}
	return nil
}
