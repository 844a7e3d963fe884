package mls

import (
	"bytes"
	"runtime"
	"testing"
)

// sparseCommit synthesizes a sparse group of n members under cfg and has
// member 0 commit with a path, which encrypts to about n-1 nodes. It
// returns the committer, the last member and the commit.
func sparseCommit(t testing.TB, n int, cfg *Config) (committer, receiver *Group, pc *PendingCommit) {
	t.Helper()
	groups, err := SynthesizeGroup(testSuite(t, groupSuite), n, SynthOptions{Sparse: true, Members: []LeafIndex{0, LeafIndex(n - 1)}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pc, err = groups[0].Commit(CommitOptions{}); err != nil {
		t.Fatal(err)
	}
	return groups[0], groups[1], pc
}

// TestCommitSignedBytes checks that a decoded commit's signature and
// transcript inputs, taken from the bytes received, equal those encoded
// from its fields; that the decoded values do not alias the caller's
// buffer; and that a changed field is encoded again, not taken from the
// bytes received.
func TestCommitSignedBytes(t *testing.T) {
	_, receiver, pc := sparseCommit(t, 40, &Config{PublicHandshake: true})
	wire, err := pc.Commit.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(wire)
	var msg MLSMessage
	if err := msg.UnmarshalBinary(buf); err != nil {
		t.Fatal(err)
	}
	clear(buf) // the caller may reuse its buffer
	m := msg.PublicMessage
	c := m.Content.Commit
	if c.signed == nil || c.Path == nil || len(c.Path.Nodes) == 0 {
		t.Fatal("decoded commit without its signed bytes or path")
	}
	fields := &Commit{Proposals: c.Proposals, Path: c.Path}
	enc, err := fields.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.signed, enc) {
		t.Fatal("signed bytes differ from the commit's encoding")
	}
	if again, err := msg.MarshalBinary(); err != nil || !bytes.Equal(again, wire) {
		t.Fatalf("decoded message encodes differently: %v", err)
	}

	ac := m.AuthenticatedContent()
	built := *ac
	built.Content.Commit = fields
	gc := receiver.pc.GroupContext()
	tbs, err := ac.TBS(gc)
	if err != nil {
		t.Fatal(err)
	}
	builtTBS, err := built.TBS(gc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbs, builtTBS) {
		t.Fatal("FramedContentTBS from the signed bytes differs")
	}
	tbm, err := m.TBM(gc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tbm, tbs) {
		t.Fatal("AuthenticatedContentTBM does not start with FramedContentTBS")
	}
	interim := bytes.Repeat([]byte{9}, receiver.suite.HashSize())
	h, err := ConfirmedTranscriptHash(receiver.suite, interim, ac)
	if err != nil {
		t.Fatal(err)
	}
	builtH, err := ConfirmedTranscriptHash(receiver.suite, interim, &built)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h, builtH) {
		t.Fatal("confirmed transcript hash from the signed bytes differs")
	}
	if _, err := receiver.Process(&msg); err != nil {
		t.Fatal(err)
	}

	// The fields are what MarshalBinary encodes.
	c.Path = nil
	short, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := (&Commit{Proposals: c.Proposals}).MarshalBinary(); !bytes.Equal(short, want) {
		t.Fatal("a changed commit encodes its old bytes")
	}
}

// TestCommitCiphertextsShared checks that decoding a sparse tree's commit
// does not allocate per ciphertext, that the ciphertexts decode to those
// sent, and that a truncated commit fails to decode.
func TestCommitCiphertextsShared(t *testing.T) {
	_, _, pc := sparseCommit(t, 200, &Config{PublicHandshake: true})
	path := pc.Commit.PublicMessage.Content.Commit.Path
	n := 0
	for _, node := range path.Nodes {
		n += len(node.EncryptedPathSecret)
	}
	if n < 150 {
		t.Fatalf("only %d ciphertexts in a sparse 200-member commit", n)
	}
	wire, err := pc.Commit.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(5, func() {
		var msg MLSMessage
		if err := msg.UnmarshalBinary(wire); err != nil {
			t.Fatal(err)
		}
	})
	if allocs >= float64(n) {
		t.Fatalf("decoding %d ciphertexts took %.0f allocations", n, allocs)
	}
	var msg MLSMessage
	if err := msg.UnmarshalBinary(wire); err != nil {
		t.Fatal(err)
	}
	got := msg.PublicMessage.Content.Commit.Path
	for i := range path.Nodes {
		for j, ct := range path.Nodes[i].EncryptedPathSecret {
			g := got.Nodes[i].EncryptedPathSecret[j]
			if !bytes.Equal(g.KEMOutput, ct.KEMOutput) || !bytes.Equal(g.Ciphertext, ct.Ciphertext) || cap(g.KEMOutput) != len(g.KEMOutput) {
				t.Fatalf("ciphertext %d of node %d decoded wrong", j, i)
			}
		}
	}
	// A truncated commit fails cleanly.
	for _, cut := range []int{1, len(wire) / 2, len(wire) - 1} {
		if err := new(MLSMessage).UnmarshalBinary(wire[:cut]); err == nil {
			t.Fatalf("commit cut to %d bytes decoded", cut)
		}
	}
}

// benchProcessSparse is mls bench's process operation on a sparse tree: the
// last member processes member 0's commit with a path, received as the
// committer's message or (fromWire) decoded from its encoding. Each run
// has its own copy of the receiver, loaded with the timer stopped: one at
// a time, since a 50,000-member copy takes tens of megabytes.
func benchProcessSparse(b *testing.B, n int, fromWire bool) {
	_, receiver, pc := sparseCommit(b, n, nil)
	state, err := receiver.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	wire, err := pc.Commit.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wire)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		g, err := LoadGroup(state, nil)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		msg := pc.Commit
		if fromWire {
			msg = new(MLSMessage)
			if err := msg.UnmarshalBinary(wire); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := g.Process(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProcessSparse1000(b *testing.B)     { benchProcessSparse(b, 1000, false) }
func BenchmarkProcessSparse1000Wire(b *testing.B) { benchProcessSparse(b, 1000, true) }
func BenchmarkProcessSparse50000(b *testing.B)    { benchProcessSparse(b, 50000, false) }

// BenchmarkCommitSparse1000 is mls bench's commit operation on a sparse
// tree, bound by its 999 HPKE seals.
func BenchmarkCommitSparse1000(b *testing.B) {
	committer, _, pc := sparseCommit(b, 1000, nil)
	if pc == nil || committer.DiscardPendingCommit() != nil {
		b.Fatal("no pending commit")
	}
	runtime.GC()
	for b.Loop() {
		if _, err := committer.Commit(CommitOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := committer.DiscardPendingCommit(); err != nil {
			b.Fatal(err)
		}
	}
}
