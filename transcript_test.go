package mls

import (
	"bytes"
	"errors"
	"testing"
)

// TestTranscriptAcrossFraming checks that the sender of a commit and its
// receivers, who get the content back from a PublicMessage or a
// PrivateMessage, agree on the transcript hashes, and that the
// confirmation tag verifies only with the right key and hash.
func TestTranscriptAcrossFraming(t *testing.T) {
	g := newFrGroup(t, 2)
	interim := bytes.Repeat([]byte{7}, g.suite.HashSize())
	for _, wf := range []WireFormat{WireFormatPublicMessage, WireFormatPrivateMessage} {
		sender, receiver := g.context(), g.context()
		ac, err := sender.Sign(g.keys[0], wf, g.content(0, ContentTypeCommit, nil))
		if err != nil {
			t.Fatal(err)
		}
		confirmed, err := ConfirmedTranscriptHash(g.suite, interim, ac)
		if err != nil {
			t.Fatal(err)
		}
		ac.Auth.ConfirmationTag = ConfirmationTag(g.suite, g.secrets.ConfirmationKey(), confirmed)
		got, err := g.transmit(t, sender, receiver, wf, ac)
		if err != nil {
			t.Fatal(err)
		}
		gotConfirmed, err := ConfirmedTranscriptHash(g.suite, interim, got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotConfirmed, confirmed) {
			t.Fatalf("%v: receiver's confirmed transcript hash differs", wf)
		}
		if err := VerifyConfirmationTag(g.suite, g.secrets.ConfirmationKey(), gotConfirmed, got.Auth.ConfirmationTag); err != nil {
			t.Fatalf("%v: %v", wf, err)
		}
		senderInterim, err := InterimTranscriptHash(g.suite, confirmed, ac.Auth.ConfirmationTag)
		if err != nil {
			t.Fatal(err)
		}
		receiverInterim, err := InterimTranscriptHash(g.suite, gotConfirmed, got.Auth.ConfirmationTag)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(senderInterim, receiverInterim) {
			t.Fatalf("%v: interim transcript hashes differ", wf)
		}
		// The wire format is part of the transcript.
		other := *got
		other.WireFormat = WireFormatPublicMessage + WireFormatPrivateMessage - wf
		if h, _ := ConfirmedTranscriptHash(g.suite, interim, &other); bytes.Equal(h, confirmed) {
			t.Errorf("%v: transcript hash ignores the wire format", wf)
		}
	}
}

func TestConfirmationTagRejected(t *testing.T) {
	g := newFrGroup(t, 1)
	key, confirmed := g.secrets.ConfirmationKey(), bytes.Repeat([]byte{5}, g.suite.HashSize())
	tag := ConfirmationTag(g.suite, key, confirmed)
	if err := VerifyConfirmationTag(g.suite, key, confirmed, tag); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ key, confirmed, tag []byte }{
		"flipped bit": {key, confirmed, append(bytes.Clone(tag[:len(tag)-1]), tag[len(tag)-1]^1)},
		"truncated":   {key, confirmed, tag[:len(tag)-1]},
		"empty":       {key, confirmed, nil},
		"other hash":  {key, tag, tag},
		"other key":   {g.secrets.MembershipKey(), confirmed, tag},
	} {
		if err := VerifyConfirmationTag(g.suite, c.key, c.confirmed, c.tag); !errors.Is(err, ErrBadConfirmationTag) {
			t.Errorf("%s: got %v, want ErrBadConfirmationTag", name, err)
		}
	}
	g.secrets.Erase()
	if err := VerifyConfirmationTag(g.suite, g.secrets.ConfirmationKey(), confirmed, tag); err == nil {
		t.Error("erased confirmation key accepted")
	}
}

func TestTranscriptHashNeedsCommit(t *testing.T) {
	g := newFrGroup(t, 1)
	ac := g.sign(g.context(), 0, ContentTypeProposal, WireFormatPublicMessage, nil)
	if _, err := ConfirmedTranscriptHash(g.suite, nil, ac); err == nil {
		t.Error("transcript hash of a proposal computed")
	}
	ac = g.sign(g.context(), 0, ContentTypeCommit, WireFormatPublicMessage, nil)
	ac.WireFormat = WireFormatWelcome
	if _, err := ConfirmedTranscriptHash(g.suite, nil, ac); err == nil {
		t.Error("transcript hash of a commit framed as a Welcome computed")
	}
}
