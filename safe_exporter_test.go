package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// application_export_secret is DeriveSecret(epoch_secret,
// "application_export"), computed here from the RFC 9420 key schedule.
func TestApplicationExportSecret(t *testing.T) {
	s, err := ciphersuite.Lookup(groupSuite)
	if err != nil {
		t.Fatal(err)
	}
	init, commit := make([]byte, s.HashSize()), make([]byte, s.HashSize())
	rand.Read(init)
	rand.Read(commit)
	gc := []byte("group context")
	es, err := DeriveEpochSecrets(s, init, commit, nil, gc)
	if err != nil {
		t.Fatal(err)
	}
	prk, _ := s.Extract(init, commit)
	joiner, _ := s.ExpandWithLabel(prk, "joiner", gc, s.HashSize())
	member, _ := s.Extract(joiner, make([]byte, s.HashSize()))
	epoch, _ := s.ExpandWithLabel(member, "epoch", gc, s.HashSize())
	want, _ := s.DeriveSecret(epoch, "application_export")
	if !bytes.Equal(es.applicationExportSecret, want) {
		t.Fatal("application_export_secret differs from the draft's derivation")
	}
}

// exporterLeaf derives the leaf of component id from root the long way:
// down the 16 levels of the tree, left for a 0 bit, right for a 1.
func exporterLeaf(t *testing.T, s *ciphersuite.Suite, root []byte, id ciphersuite.ComponentID) []byte {
	secret := root
	for level := 16; level > 0; level-- {
		dir := "left"
		if id>>(level-1)&1 == 1 {
			dir = "right"
		}
		var err error
		if secret, err = s.ExpandWithLabel(secret, "tree", []byte(dir), s.HashSize()); err != nil {
			t.Fatal(err)
		}
	}
	return secret
}

func TestExporterTree(t *testing.T) {
	s, err := ciphersuite.Lookup(groupSuite)
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, s.HashSize())
	rand.Read(root)
	tree := newExporterTree(s, bytes.Clone(root))
	for _, id := range []ciphersuite.ComponentID{5, 4, 0, 0xffff, 0x8000, 7, 0x7fff} {
		got, err := tree.export(id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, exporterLeaf(t, s, root, id)) {
			t.Fatalf("component %d: leaf differs", id)
		}
		if _, err := tree.export(id); !errors.Is(err, ErrExportConsumed) {
			t.Fatalf("component %d exported twice: %v", id, err)
		}
	}
	// The deletion schedule: what is held is the frontier of what was
	// derived, at most 16 nodes per export, never the root again.
	if len(tree.nodes) > 7*16 || tree.nodes[65535] != nil {
		t.Fatalf("%d nodes held", len(tree.nodes))
	}
}

func TestSafeExport(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		alice, bob := tg.members["alice"], tg.members["bob"]
		a1, err := alice.SafeExport(1)
		if err != nil {
			t.Fatal(err)
		}
		b1, err := bob.SafeExport(1)
		if err != nil || !bytes.Equal(a1, b1) || len(a1) != alice.suite.HashSize() {
			t.Fatalf("members disagree: %v", err)
		}
		if _, err := alice.SafeExport(1); !errors.Is(err, ErrExportConsumed) {
			t.Fatalf("second export: %v", err)
		}
		a2, err := alice.SafeExport(2)
		if err != nil || bytes.Equal(a1, a2) {
			t.Fatalf("component 2: %v", err)
		}
		// Saved and restored, Bob keeps component 1 consumed and derives
		// component 2 as Alice did.
		state, err := bob.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		bob, err = LoadGroup(state, cfg)
		if err != nil {
			t.Fatal(err)
		}
		tg.members["bob"] = bob
		if _, err := bob.SafeExport(1); !errors.Is(err, ErrExportConsumed) {
			t.Fatalf("restored: %v", err)
		}
		if b2, err := bob.SafeExport(2); err != nil || !bytes.Equal(b2, a2) {
			t.Fatalf("restored: %v", err)
		}

		// A new epoch, from a commit saved while pending: new secrets that
		// every member agrees on, the joiner too.
		carol := tg.members["carol"]
		daveID, daveKP := newKeyPackage(t, groupSuite, "dave")
		pc, err := carol.Commit(CommitOptions{Add: []*KeyPackage{daveKP.KeyPackage}})
		if err != nil {
			t.Fatal(err)
		}
		state, err = carol.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if carol, err = LoadGroup(state, cfg); err != nil {
			t.Fatal(err)
		}
		tg.members["carol"] = carol
		tg.broadcast("carol", pc.Commit)
		if _, err := carol.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		dave, err := Join(daveID, pc.Welcome, daveKP, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, err := dave.SafeExport(1)
		if err != nil || bytes.Equal(want, a1) {
			t.Fatalf("new epoch: %v", err)
		}
		for _, g := range []*Group{alice, bob, carol} {
			if got, err := g.SafeExport(1); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v disagrees in the new epoch: %v", g, err)
			}
		}
	}
}

// A version 1 state, without extensions, still loads; its epoch has no
// safe exporter, the next one has.
func TestSafeExportVersion1State(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob")
	bob := tg.members["bob"]
	bob.exporter.erase()
	bob.exporter = nil
	state, err := bob.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if state[len(state)-1] != 0 {
		t.Fatal("state does not end with an empty extension list")
	}
	v1 := bytes.Clone(state[:len(state)-1])
	v1[len(groupStateMagic)], v1[len(groupStateMagic)+1] = 0, 1
	checkLoad(t, v1)
	old, err := LoadGroup(v1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.SafeExport(1); err == nil || errors.Is(err, ErrExportConsumed) {
		t.Fatalf("safe export in a version 1 epoch: %v", err)
	}
	tg.members["bob"] = old
	tg.commit("alice", CommitOptions{Update: true}, nil)
	a, err := tg.members["alice"].SafeExport(9)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := old.SafeExport(9); err != nil || !bytes.Equal(a, b) {
		t.Fatalf("next epoch: %v", err)
	}
}

// Malformed exporter states are refused: a node out of range, twice, below
// another held node, or of the wrong size.
func TestExporterStateMalformed(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	g := tg.members["alice"]
	nh := g.suite.HashSize()
	secret := make([]byte, nh)
	type node struct {
		x    uint32
		size int
	}
	for name, nodes := range map[string][]node{
		"out of range": {{1 << 17, nh}},
		"twice":        {{4, nh}, {4, nh}},
		"below":        {{3, nh}, {4, nh}},
		"wrong size":   {{4, nh - 1}},
	} {
		b := codec.NewBuilder(64)
		for _, n := range nodes {
			b.AddUint32(n.x)
			b.AddOpaque(secret[:n.size])
		}
		data, _ := b.Bytes()
		r := codec.NewReader(data)
		g.unmarshalExporter(r)
		if r.Err() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b := codec.NewBuilder(64)
	b.AddUint32(4)
	b.AddOpaque(secret)
	b.AddUint32(9)
	b.AddOpaque(secret)
	data, _ := b.Bytes()
	r := codec.NewReader(data)
	if g.unmarshalExporter(r); r.Err() != nil || len(g.exporter.nodes) != 2 {
		t.Fatalf("valid nodes refused: %v", r.Err())
	}
}
