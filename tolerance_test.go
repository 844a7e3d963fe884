package mls

import (
	"bytes"
	"crypto/rand"
	"math"
	"slices"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// The receiver-side tolerance tests: what RFC 9420 allows other
// implementations to send, Arbor accepts (see CONFORMANCE.md). Each test
// builds the objects another implementation could make, feeds them through
// the public API (add, join, process) and checks that the group works.

// randomData returns n random bytes.
func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// groupInfoWith returns a GroupInfo of a new group of creator (made with
// leaf options leaf), with extra extensions, signed again. The group makes
// no GREASE extension of its own, which could collide with extra.
func groupInfoWith(t *testing.T, creator string, leaf *KeyPackageOptions, extra ...Extension) (*Group, *MLSMessage) {
	t.Helper()
	id := newTestIdentity(t, groupSuite, creator)
	g, err := CreateGroup(id, &Config{NoGREASE: true}, &CreateOptions{Leaf: leaf})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := g.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	gi := msg.GroupInfo
	gi.Extensions = append(gi.Extensions, extra...)
	if err := gi.Sign(id.SigningKey); err != nil {
		t.Fatal(err)
	}
	return g, wireCopy(t, msg)
}

// foreignKeyPackage makes a KeyPackage for name as a generous peer might:
// GREASE and unknown values in every field of section 13.5 and in the
// credential types, unknown extensions in KeyPackage.extensions that the
// capabilities do not list (as MLS++ does), and the given lifetime. It
// returns the identity and the bundle with the private keys.
func foreignKeyPackage(t *testing.T, suite ciphersuite.ID, name string, lifetime Lifetime) (*Identity, *KeyPackageBundle) {
	t.Helper()
	id := newTestIdentity(t, suite, name)
	caps := Capabilities{
		Versions:     []ProtocolVersion{ProtocolVersionMLS10, 0x0A0A, 0xF0F0},
		CipherSuites: []ciphersuite.ID{0x1A1A, suite, 0xF0F0},
		// 0x3A3A and 0xF0F1 are used in the leaf's extensions below.
		Extensions:  []ExtensionType{0x2A2A, 0x3A3A, 0xF0F1, ExtensionTypeLastResort},
		Proposals:   []ProposalType{0x4A4A, 0xF0F2},
		Credentials: []CredentialType{0x5A5A, CredentialTypeBasic, 0xF0F3},
	}
	leafExts := Extensions{
		{ExtensionType: 0x3A3A, ExtensionData: randomData(t, 17)},
		{ExtensionType: 0xF0F1, ExtensionData: []byte{}},
		{ExtensionType: ExtensionTypeApplicationID, ExtensionData: []byte{3, 'a', 'p', 'p'}},
	}
	b := newTestBundle(t, id, &KeyPackageOptions{Capabilities: &caps, LeafExtensions: leafExts, NoGREASE: true})
	kp := *b.KeyPackage
	// Unknown KeyPackage extensions, GREASE or not, listed or not (RFC
	// 9420 sections 13.4 and 13.5): section 10 asks the creator to list
	// them, but a receiver ignores unknown ones.
	kp.Extensions = Extensions{
		{ExtensionType: 0x6A6A, ExtensionData: randomData(t, 40)},
		{ExtensionType: 0xF0F4, ExtensionData: []byte("unlisted")},
		{ExtensionType: ExtensionTypeLastResort, ExtensionData: []byte{}},
	}
	lt := lifetime
	kp.LeafNode.Lifetime = &lt
	resign(t, &kp, id)
	nb, err := NewKeyPackageBundle(wireCopy(t, &kp), b.InitPrivateKey(), b.EncryptionPrivateKey())
	if err != nil {
		t.Fatal(err)
	}
	return id, nb
}

// TestTolerateForeignKeyPackages adds KeyPackages full of GREASE and
// unknown values, with the maximal lifetimes of MLS++ and ts-mls, by a
// commit that another member processes; the new member joins, commits,
// and everyone talks. The receivers check lifetimes against the clock
// (Lifetimes.CheckReceived), which such lifetimes pass.
func TestTolerateForeignKeyPackages(t *testing.T) {
	for _, lt := range []struct {
		name string
		l    Lifetime
	}{
		{"MLS++ lifetime [0, 2^64-1]", Lifetime{0, math.MaxUint64}},
		{"ts-mls lifetime [0, 2^63-1]", Lifetime{0, math.MaxInt64}},
	} {
		t.Run(lt.name, func(t *testing.T) {
			cfg := &Config{Lifetimes: LifetimePolicy{CheckReceived: true}}
			tg := newTestGroup(t, groupSuite, cfg, "alice")
			tg.add("alice", "bob")
			if err := func() error {
				_, b := foreignKeyPackage(t, groupSuite, "x", lt.l)
				return b.KeyPackage.Validate(groupSuite, nil)
			}(); err != nil {
				t.Fatalf("KeyPackage.Validate: %v", err)
			}
			// By value: bob processes alice's commit, the peer joins.
			id, b := foreignKeyPackage(t, groupSuite, "peer", lt.l)
			tg.commit("alice", CommitOptions{Add: []*KeyPackage{b.KeyPackage}}, map[string]*joiner{"peer": {id, b}})
			// By reference: bob proposes, alice commits, peer2 joins.
			id2, b2 := foreignKeyPackage(t, groupSuite, "peer2", lt.l)
			prop, err := tg.members["bob"].ProposeAdd(b2.KeyPackage)
			if err != nil {
				t.Fatal(err)
			}
			tg.broadcast("bob", prop)
			tg.commit("alice", CommitOptions{}, map[string]*joiner{"peer2": {id2, b2}})

			// The peer's leaf keeps its values in everyone's tree.
			for _, name := range tg.order {
				leaf := tg.members[name].tree.Leaf(tg.leafOf("peer"))
				if !slices.Contains(leaf.Capabilities.CipherSuites, 0x1A1A) || len(leaf.Extensions) != 3 {
					t.Fatalf("%s sees the peer's leaf without its GREASE values: %+v", name, leaf.Capabilities)
				}
			}
			// The peer commits with a path: its commit leaf carries the
			// same capabilities and extensions.
			tg.commit("peer", CommitOptions{}, nil)
			tg.chat()
		})
	}
}

// TestTolerateUnknownGroupExtensions joins a group by external commit and
// by Welcome from a GroupInfo that carries unknown extensions, GREASE and
// not (RFC 9420 section 13.4: a client processing a GroupInfo ignores
// unknown ones), and changes the GroupContext to an unknown extension that
// every member lists (allowed: GroupContext extensions are mandatory only
// in that every member must support them).
func TestTolerateUnknownGroupExtensions(t *testing.T) {
	const custom ExtensionType = 0xF0E0
	caps := DefaultCapabilities(groupSuite)
	caps.Extensions = append(caps.Extensions, custom, 0x8A8A)
	leaf := &KeyPackageOptions{Capabilities: &caps}
	alice, in := groupInfoWith(t, "alice", leaf,
		Extension{ExtensionType: 0x9A9A, ExtensionData: randomData(t, 64)},
		Extension{ExtensionType: 0xF0F5, ExtensionData: []byte("ignored")})
	carolID := newTestIdentity(t, groupSuite, "carol")
	carol, commit, err := JoinExternal(in, carolID, nil, &ExternalJoinOptions{Leaf: leaf})
	if err != nil {
		t.Fatalf("external join from a GroupInfo with unknown extensions: %v", err)
	}
	if _, err := alice.Process(commit); err != nil {
		t.Fatal(err)
	}
	tg := &testGroup{t: t, suite: groupSuite, members: map[string]*Group{"alice": alice, "carol": carol}, order: []string{"alice", "carol"}}
	tg.check()

	// An unknown GroupContext extension, listed by every member.
	tg.commit("alice", CommitOptions{GroupContextExtensions: Extensions{{ExtensionType: custom, ExtensionData: []byte("policy")}}}, nil)
	if _, ok := carol.GroupContext().Extensions.Find(custom); !ok {
		t.Fatal("the GroupContext lost the unknown extension")
	}
	// A new member that lists it joins by Welcome.
	daveID := newTestIdentity(t, groupSuite, "dave")
	dave := newTestBundle(t, daveID, leaf)
	tg.commit("carol", CommitOptions{Add: []*KeyPackage{dave.KeyPackage}}, map[string]*joiner{"dave": {daveID, dave}})
	tg.chat()

	// One that does not list it cannot be added (RFC 9420 section 13.4).
	_, eve := newKeyPackage(t, groupSuite, "eve")
	if _, err := alice.Commit(CommitOptions{Add: []*KeyPackage{eve.KeyPackage}}); err == nil {
		t.Fatal("added a member that does not support a GroupContext extension")
	}
}

// TestTolerateUnknownCredentialType adds and joins members whose
// credentials are of a type Arbor does not know, when every member lists
// it and the Authentication Service accepts it (RFC 9420 section 13.3).
func TestTolerateUnknownCredentialType(t *testing.T) {
	const ct CredentialType = 0xF0C0
	caps := DefaultCapabilities(groupSuite)
	caps.Credentials = append(caps.Credentials, ct)
	leaf := &KeyPackageOptions{Capabilities: &caps}
	aliceID := newTestIdentity(t, groupSuite, "alice")
	alice, err := CreateGroup(aliceID, nil, &CreateOptions{Leaf: leaf})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGroup{t: t, suite: groupSuite, members: map[string]*Group{"alice": alice}, order: []string{"alice"}}
	bobID := newTestIdentity(t, groupSuite, "bob")
	bob := newTestBundle(t, bobID, leaf)
	tg.commit("alice", CommitOptions{Add: []*KeyPackage{bob.KeyPackage}}, map[string]*joiner{"bob": {bobID, bob}})

	odd := &Identity{Credential: Credential{CredentialType: ct, Data: []byte("opaque token")}, SigningKey: newTestIdentity(t, groupSuite, "x").SigningKey}
	oddKP := newTestBundle(t, odd, leaf)
	// The Welcome goes to a member whose credential Arbor cannot read.
	tg.addAside("alice", odd, oddKP)
}

// addAside has from commit adding b's KeyPackage, delivers and merges the
// commit, and joins id from the Welcome without making it one of tg's
// members (testGroup.check reads basic identities). It checks that the
// joiner is in the group's epoch and returns the Welcome.
func (tg *testGroup) addAside(from string, id *Identity, b *KeyPackageBundle) *MLSMessage {
	tg.t.Helper()
	g := tg.members[from]
	pc, err := g.Commit(CommitOptions{Add: []*KeyPackage{b.KeyPackage}})
	if err != nil {
		tg.t.Fatal(err)
	}
	tg.broadcast(from, pc.Commit)
	if _, err := g.MergePendingCommit(); err != nil {
		tg.t.Fatal(err)
	}
	joined, err := Join(id, pc.Welcome, b, tg.cfg, nil)
	if err != nil {
		tg.t.Fatal(err)
	}
	if !bytes.Equal(joined.EpochAuthenticator(), g.EpochAuthenticator()) {
		tg.t.Fatal("the joiner is in another epoch")
	}
	return pc.Welcome
}

// TestGroupInfoDuplicateExtension refuses a GroupInfo with two extensions
// of one type, which RFC 9420 section 13.4 forbids in every list.
func TestGroupInfoDuplicateExtension(t *testing.T) {
	_, msg := groupInfoWith(t, "alice", nil, Extension{ExtensionType: 0xF0F5}, Extension{ExtensionType: 0xF0F5})
	_, _, err := JoinExternal(msg, newTestIdentity(t, groupSuite, "carol"), nil, nil)
	wantRule(t, err, ruleDuplicateExtension)
}
