package mls

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/arbormls/mls/internal/codec"
)

func TestProposalType(t *testing.T) {
	for _, c := range []struct {
		p    Proposal
		want ProposalType
	}{
		{Proposal{Remove: &RemoveProposal{Removed: 3}}, ProposalTypeRemove},
		{Proposal{ExternalInit: &ExternalInitProposal{}}, ProposalTypeExternalInit},
		{Proposal{Unknown: &UnknownProposal{ProposalType: 0x0a0a}}, 0x0a0a},
		{Proposal{}, 0},
		{Proposal{Remove: &RemoveProposal{}, ExternalInit: &ExternalInitProposal{}}, 0},
		{Proposal{Unknown: &UnknownProposal{ProposalType: ProposalTypeAdd}}, 0},
		{Proposal{Unknown: &UnknownProposal{ProposalType: 0}}, 0},
	} {
		if got := c.p.Type(); got != c.want {
			t.Errorf("%+v: type %v, want %v", c.p, got, c.want)
		}
		data, err := c.p.MarshalBinary()
		if (err == nil) != (c.want != 0) {
			t.Errorf("%+v: encode error %v", c.p, err)
		}
		if err == nil {
			var got Proposal
			roundTrip(t, "Proposal", data, &got)
			if got.Type() != c.want {
				t.Errorf("decoded type %v", got.Type())
			}
		}
	}
}

func TestProposalTypeZeroRejected(t *testing.T) {
	var p Proposal
	expectMalformed(t, "proposal_type 0", p.UnmarshalBinary([]byte{0, 0, 1, 0}), nil)
}

func TestUnknownProposalRoundTrip(t *testing.T) {
	data := []byte{0x0a, 0x0a, 3, 'x', 'y', 'z'}
	var p Proposal
	roundTrip(t, "unknown proposal", data, &p)
	if p.Unknown == nil || p.Unknown.ProposalType != 0x0a0a || string(p.Unknown.Data) != "xyz" {
		t.Fatalf("got %+v", p.Unknown)
	}
	// Inside a commit, by value and next to a reference.
	c := Commit{Proposals: []ProposalOrRef{{Proposal: &p}, {Reference: []byte{1, 2}}, {Reference: []byte{}}}}
	enc, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Commit
	roundTrip(t, "Commit", enc, &got)
	if len(got.Proposals) != 3 || got.Proposals[2].Reference == nil || got.Path != nil {
		t.Fatalf("got %+v", got)
	}
}

func TestCommitRejects(t *testing.T) {
	for i, c := range messageVectors(t)[:20] {
		data := c["commit"]
		var cm Commit
		roundTrip(t, "commit", data, &cm)
		// The path presence byte follows the proposals vector.
		r := codec.NewReader(data)
		r.ReadVector()
		at := len(data) - r.Len()
		if data[at] != 0 && data[at] != 1 {
			t.Fatalf("case %d: presence byte %d", i, data[at])
		}
		bad := bytes.Clone(data)
		bad[at] = 2
		expectMalformed(t, "path presence byte 2", cm.UnmarshalBinary(bad), codec.ErrInvalidOptional)
		if len(cm.Proposals) > 0 {
			bad = bytes.Clone(data)
			_, n := vectorHeader(data)
			bad[n] = 3 // ProposalOrRefType of the first entry
			expectMalformed(t, "ProposalOrRefType 3", cm.UnmarshalBinary(bad), nil)
		}
	}
	for _, p := range []ProposalOrRef{{}, {Proposal: &Proposal{Remove: &RemoveProposal{}}, Reference: []byte{}}} {
		c := Commit{Proposals: []ProposalOrRef{p}}
		if _, err := c.MarshalBinary(); err == nil {
			t.Fatalf("ProposalOrRef %+v encoded", p)
		}
	}
}

// messageKinds returns the encodings of one kind from every messages.json case.
func messageKinds(t testing.TB, kind string) [][]byte {
	var out [][]byte
	for _, c := range messageVectors(t) {
		out = append(out, c[kind])
	}
	return out
}

// vectorHeader returns the length of the vector that data starts with and
// the size of its header.
func vectorHeader(data []byte) (length uint64, size int) {
	r := codec.NewReader(data)
	length = r.ReadVarint()
	return length, len(data) - r.Len()
}

func TestGroupSecrets(t *testing.T) {
	// The vectors all carry a path secret; add a GroupSecrets without one.
	without, err := (&GroupSecrets{JoinerSecret: []byte{1}, PSKs: []PreSharedKeyID{{PSKType: PSKTypeExternal, PSKID: []byte{2}, PSKNonce: []byte{3}}}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var withPath, withoutPath bool
	for _, data := range append([][]byte{without}, messageKinds(t, "group_secrets")...) {
		var gs GroupSecrets
		roundTrip(t, "group_secrets", data, &gs)
		// The presence byte of path_secret follows joiner_secret.
		n, h := vectorHeader(data)
		at := h + int(n)
		if gs.PathSecret != nil {
			withPath = true
		} else {
			withoutPath = true
		}
		bad := bytes.Clone(data)
		bad[at] = 0xff
		expectMalformed(t, "path_secret presence byte", gs.UnmarshalBinary(bad), codec.ErrInvalidOptional)
	}
	if !withPath || !withoutPath {
		t.Fatal("both path_secret forms not covered")
	}
	gs := GroupSecrets{JoinerSecret: []byte("joiner-secret-value"), PathSecret: &PathSecret{PathSecret: []byte("path-secret-value")}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x"} {
		for _, v := range []any{gs, &gs, *gs.PathSecret, []GroupSecrets{gs}} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, "secret-value") || strings.Contains(out, fmt.Sprintf("%x", "secret-value")) {
				t.Fatalf("%s leaks a secret: %s", verb, out)
			}
		}
	}
}

func TestExtensionsFind(t *testing.T) {
	es := Extensions{{ExtensionType: 0x0a0a, ExtensionData: []byte{1}}, {ExtensionType: ExtensionTypeExternalPub, ExtensionData: []byte{2}}}
	if e, ok := es.Find(ExtensionTypeExternalPub); !ok || e.ExtensionData[0] != 2 {
		t.Fatalf("Find: %+v %v", e, ok)
	}
	if _, ok := es.Find(ExtensionTypeRatchetTree); ok {
		t.Fatal("Find found a missing extension")
	}
	data, err := es.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Extensions
	roundTrip(t, "Extensions", data, &got)

	// Typed extension contents round-trip.
	var senders ExternalSenders
	roundTrip(t, "ExternalSenders", mustMarshal(t, ExternalSenders{{SignatureKey: []byte{1}, Credential: NewBasicCredential([]byte("ds"))}}), &senders)
	var pub ExternalPub
	roundTrip(t, "ExternalPub", mustMarshal(t, &ExternalPub{ExternalPub: []byte{1, 2}}), &pub)
	var app ApplicationID
	roundTrip(t, "ApplicationID", mustMarshal(t, ApplicationID("app")), &app)
}

func mustMarshal(t *testing.T, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	data, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGroupInfoExtensions decodes the ratchet_tree and external_pub
// extensions of the GroupInfos in messages.json where present.
func TestGroupInfoExtensions(t *testing.T) {
	var trees, pubs int
	for _, c := range messageVectors(t) {
		var m MLSMessage
		data := c["mls_group_info"]
		if err := m.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		gi := m.GroupInfo
		if !bytes.Equal(gi.Raw(), data[4:]) {
			t.Fatal("GroupInfo.Raw is not the received encoding")
		}
		if e, ok := gi.Extensions.Find(ExtensionTypeRatchetTree); ok {
			var tree TreeNodes
			roundTrip(t, "ratchet_tree extension", e.ExtensionData, &tree)
			trees++
		}
		if e, ok := gi.Extensions.Find(ExtensionTypeExternalPub); ok {
			var pub ExternalPub
			roundTrip(t, "external_pub extension", e.ExtensionData, &pub)
			pubs++
		}
	}
	t.Logf("%d ratchet_tree and %d external_pub extensions", trees, pubs)
}
