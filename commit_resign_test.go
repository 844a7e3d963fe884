package mls

import (
	"bytes"
	"runtime"
	"testing"
	"weak"
)

// TestSignChangedDecodedCommit checks that signing a commit that was
// decoded and then changed signs the commit as it is now, the one that is
// sent: a receiver of the encoded message verifies the signature and gets
// the changed proposals, and the sender's confirmed transcript hash is the
// receiver's. (A decoded Commit keeps the bytes it was decoded from; if
// Sign took them, the signature would cover the old commit while the
// message carried the new one.)
func TestSignChangedDecodedCommit(t *testing.T) {
	g := newFrGroup(t, groupSuite)
	sender, receiver := g.context(), g.context()
	orig := wireCopy(t, g.protectPublic(sender, 0, ContentTypeCommit))
	extra := ProposalOrRef{Reference: bytes.Repeat([]byte{4}, g.suite.HashSize())}
	interim := bytes.Repeat([]byte{5}, g.suite.HashSize())

	for _, wf := range []WireFormat{WireFormatPublicMessage, WireFormatPrivateMessage} {
		decoded := wireCopy(t, orig)
		fc := decoded.Content
		fc.Commit.Proposals = append(fc.Commit.Proposals, extra)
		ac, err := sender.Sign(g.keys[0], wf, &fc)
		if err != nil {
			t.Fatal(err)
		}
		ac.Auth.ConfirmationTag = bytes.Repeat([]byte{6}, g.suite.HashSize())
		sent, err := ConfirmedTranscriptHash(g.suite, interim, ac)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.transmit(t, sender, receiver, wf, ac)
		if err != nil {
			t.Fatalf("%v: the receiver rejects the re-signed commit: %v", wf, err)
		}
		if n := len(got.Content.Commit.Proposals); n != 2 || !bytes.Equal(got.Content.Commit.Proposals[1].Reference, extra.Reference) {
			t.Fatalf("%v: the receiver got %d proposals, want the 2 signed", wf, n)
		}
		received, err := ConfirmedTranscriptHash(g.suite, interim, got)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sent, received) {
			t.Fatalf("%v: sender and receiver disagree on the confirmed transcript hash", wf)
		}
	}
}

// TestCommitDecodeOwnsItsInput checks that a Commit decoded with
// UnmarshalBinary, and one decoded inside a PrivateMessage's plaintext,
// take nothing from a buffer the caller reuses: the signed bytes, the
// path's ciphertexts and keys stay as received when the input is
// overwritten.
func TestCommitDecodeOwnsItsInput(t *testing.T) {
	_, _, pc := sparseCommit(t, 24, &Config{PublicHandshake: true})
	sent := pc.Commit.PublicMessage.Content.Commit
	enc, err := sent.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, c *Commit) {
		t.Helper()
		if !bytes.Equal(c.signed, enc) {
			t.Fatalf("%s: signed bytes changed with the caller's buffer", name)
		}
		again, err := c.MarshalBinary()
		if err != nil || !bytes.Equal(again, enc) {
			t.Fatalf("%s: fields changed with the caller's buffer: %v", name, err)
		}
	}

	buf := bytes.Clone(enc)
	var c Commit
	if err := c.UnmarshalBinary(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] ^= 0xff
	}
	check("Commit.UnmarshalBinary", &c)

	sig := bytes.Repeat([]byte{1}, 64)
	plain, err := (&PrivateMessageContent{ContentType: ContentTypeCommit, Commit: sent, Auth: FramedContentAuthData{Signature: sig, ConfirmationTag: sig[:32]}, Padding: 100}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var pmc PrivateMessageContent
	if err := pmc.unmarshalPlaintext(plain, ContentTypeCommit); err != nil {
		t.Fatal(err)
	}
	clear(plain)
	check("PrivateMessageContent", pmc.Commit)
	if !bytes.Equal(pmc.Auth.Signature, sig) {
		t.Fatal("the plaintext's signature changed with its buffer")
	}
}

// TestProcessedCommitNotRetained checks that once a receiver has processed
// a sparse commit decoded from the wire, nothing it keeps (the ratchet
// tree's new leaf and keys, the new epoch) holds on to the commit's copy
// of the input, which its signed bytes and ciphertexts share.
func TestProcessedCommitNotRetained(t *testing.T) {
	_, receiver, pc := sparseCommit(t, 64, &Config{PublicHandshake: true})
	wire, err := pc.Commit.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	copyOf := processWire(t, receiver, wire)
	runtime.GC()
	runtime.GC()
	if copyOf.Value() != nil {
		t.Fatal("the receiver keeps the processed commit's input alive")
	}
	runtime.KeepAlive(receiver)
}

// processWire has g process the message encoded in wire and returns a weak
// pointer to the decoded commit's copy of its input.
func processWire(t *testing.T, g *Group, wire []byte) weak.Pointer[byte] {
	t.Helper()
	var msg MLSMessage
	if err := msg.UnmarshalBinary(wire); err != nil {
		t.Fatal(err)
	}
	signed := msg.PublicMessage.Content.Commit.signed
	p := weak.Make(&signed[0])
	if _, err := g.Process(&msg); err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzCommitSigned checks that a decoded Commit's signed bytes are its
// input exactly, and a copy of it.
func FuzzCommitSigned(f *testing.F) {
	for _, s := range seeds(f, "commit", 0) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		var c Commit
		if c.UnmarshalBinary(in) != nil {
			return
		}
		clear(in)
		if !bytes.Equal(c.signed, data) {
			t.Fatalf("signed bytes %x, input %x", c.signed, data)
		}
	})
}
