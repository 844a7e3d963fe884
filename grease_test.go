package mls

import (
	"slices"
	"testing"
)

// splitGREASE splits s into its other values and its GREASE values.
func splitGREASE[T ~uint16](s []T) (plain, grease []T) {
	for _, v := range s {
		if isGREASE(v) {
			grease = append(grease, v)
		} else {
			plain = append(plain, v)
		}
	}
	return plain, grease
}

// countGREASE counts the GREASE extensions of exts.
func countGREASE(exts Extensions) int {
	n := 0
	for _, e := range exts {
		if isGREASE(e.ExtensionType) {
			n++
		}
	}
	return n
}

// TestGreaseValues checks the list against the rule of section 13.5: 0x?A?A
// with the same nibble twice, 0xFAFA excluded.
func TestGreaseValues(t *testing.T) {
	var want []uint16
	for n := uint16(0); n < 15; n++ {
		want = append(want, n<<12|0x0A00|n<<4|0x0A)
	}
	if !slices.Equal(greaseValues[:], want) {
		t.Fatalf("GREASE values %x, want %x", greaseValues, want)
	}
	for v := range 1 << 16 {
		if isGREASE(uint16(v)) != slices.Contains(want, uint16(v)) {
			t.Fatalf("isGREASE(0x%04x) wrong", v)
		}
	}
	// Drawn per object: two KeyPackages rarely carry the same values.
	id := newTestIdentity(t, groupSuite, "g")
	same := 0
	for range 8 {
		a := newTestBundle(t, id, nil).KeyPackage
		b := newTestBundle(t, id, nil).KeyPackage
		if slices.Equal(a.LeafNode.Capabilities.Extensions, b.LeafNode.Capabilities.Extensions) &&
			a.Extensions[0].ExtensionType == b.Extensions[0].ExtensionType {
			same++
		}
	}
	if same == 8 {
		t.Fatal("GREASE values do not vary between KeyPackages")
	}
}

// TestGreaseInGroups runs a group of members whose KeyPackages, leaves and
// GroupInfos all carry GREASE (the default): adds, a Welcome whose
// GroupInfo carries a GREASE extension, commits with paths (whose leaves
// keep the GREASE values), an external join from a GREASEd GroupInfo, and
// messages. With Config.NoGREASE and KeyPackageOptions.NoGREASE nothing is
// GREASEd.
func TestGreaseInGroups(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	tg.commit("bob", CommitOptions{Update: true}, nil)
	tg.chat()
	for _, name := range tg.order {
		leaf := tg.members["alice"].tree.Leaf(tg.leafOf(name))
		if _, g := splitGREASE(leaf.Capabilities.CipherSuites); len(g) != 1 {
			t.Fatalf("%s's leaf has no GREASE cipher suite: %v", name, leaf.Capabilities.CipherSuites)
		}
		if len(leaf.Extensions) != 1 || !isGREASE(leaf.Extensions[0].ExtensionType) {
			t.Fatalf("%s's leaf has extensions %v, want one GREASE", name, leaf.Extensions)
		}
	}
	msg, err := tg.members["carol"].GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if countGREASE(msg.GroupInfo.Extensions) != 1 {
		t.Fatalf("GroupInfo extensions %v, want one GREASE", msg.GroupInfo.Extensions)
	}
	dave, commit, err := JoinExternal(msg, newTestIdentity(t, groupSuite, "dave"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("dave", commit)
	tg.members["dave"] = dave
	tg.order = append(tg.order, "dave")
	tg.check()
	tg.chat()

	// Off: nothing GREASEd in the group's own leaf, its GroupInfos, or a
	// KeyPackage made with NoGREASE.
	id := newTestIdentity(t, groupSuite, "erin")
	g, err := CreateGroup(id, &Config{NoGREASE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gi, err := g.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if countGREASE(gi.GroupInfo.Extensions) != 0 {
		t.Fatal("GREASE in a GroupInfo with NoGREASE")
	}
	own := g.tree.Leaf(g.OwnLeaf())
	kp := newTestBundle(t, id, &KeyPackageOptions{NoGREASE: true}).KeyPackage
	for _, c := range []*Capabilities{&own.Capabilities, &kp.LeafNode.Capabilities} {
		var all []uint16
		for _, v := range c.CipherSuites {
			all = append(all, uint16(v))
		}
		for _, v := range c.Extensions {
			all = append(all, uint16(v))
		}
		for _, v := range c.Proposals {
			all = append(all, uint16(v))
		}
		for _, v := range c.Credentials {
			all = append(all, uint16(v))
		}
		if _, g := splitGREASE(all); len(g) != 0 {
			t.Fatalf("GREASE values %x with NoGREASE", g)
		}
	}
	if len(own.Extensions) != 0 || len(kp.Extensions) != 0 || len(kp.LeafNode.Extensions) != 0 {
		t.Fatal("GREASE extensions with NoGREASE")
	}
	// The GroupInfo of a Welcome carries GREASE too: a joiner decrypts it.
	bobID, bobKP := newKeyPackage(t, groupSuite, "bob2")
	welcome := tg.addAside("alice", bobID, bobKP)
	signer := func(gi *GroupInfo) ([]byte, error) { return tg.members["alice"].tree.Leaf(gi.Signer).SignatureKey, nil }
	ow, err := OpenWelcome(welcome.Welcome, bobKP.KeyPackage, bobKP.InitPrivateKey(), nil, signer)
	if err != nil {
		t.Fatal(err)
	}
	if countGREASE(ow.GroupInfo.Extensions) != 1 {
		t.Fatalf("Welcome's GroupInfo extensions %v, want one GREASE", ow.GroupInfo.Extensions)
	}
}

// TestGreaseNotSent refuses to send GREASE values where RFC 9420 section
// 13.5 forbids them: proposal types, credential types and GroupContext
// extensions.
func TestGreaseNotSent(t *testing.T) {
	if _, err := NewIdentity(groupSuite, Credential{CredentialType: 0x0A0A, Data: []byte{}}); err == nil {
		t.Fatal("identity with a GREASE credential type")
	}
	if _, err := CreateGroup(newTestIdentity(t, groupSuite, "a"), nil, &CreateOptions{Extensions: Extensions{{ExtensionType: 0x1A1A}}}); err == nil {
		t.Fatal("group with a GREASE GroupContext extension")
	}
	tg := newTestGroup(t, groupSuite, nil, "alice")
	alice := tg.members["alice"]
	if _, err := alice.Commit(CommitOptions{GroupContextExtensions: Extensions{{ExtensionType: 0x2A2A, ExtensionData: []byte{}}}}); err == nil {
		t.Fatal("commit of a GREASE GroupContext extension")
	}
	if _, err := alice.ProposeGroupContextExtensions(Extensions{{ExtensionType: 0x3A3A, ExtensionData: []byte{}}}); err == nil {
		t.Fatal("proposal of a GREASE GroupContext extension")
	}
	if _, err := alice.Commit(CommitOptions{Proposals: []Proposal{{Unknown: &UnknownProposal{ProposalType: 0x4A4A, Data: []byte{}}}}}); err == nil {
		t.Fatal("commit of a GREASE proposal type")
	}
	// Private use 0xFAFA is not GREASE.
	if _, err := NewIdentity(groupSuite, Credential{CredentialType: 0xFAFA, Data: []byte{}}); err != nil {
		t.Fatal(err)
	}
}
