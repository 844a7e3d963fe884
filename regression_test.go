package mls

// Regression cases from other MLS implementations' published security
// advisories and validation fixes: each test builds the input that broke
// (or could have broken) another implementation and checks that Arbor
// refuses it with the right rule, or reaches the right outcome. SECURITY.md
// lists them with their sources; the test names carry the implementation
// and the advisory, issue or pull request.

import (
	"bytes"
	"errors"
	"testing"
)

// forgeGroupInfo returns a GroupInfo of g's epoch that carries nodes as its
// ratchet tree, with the tree hash of nodes in its GroupContext (or g's own
// tree hash when nodes do not make a tree), signed by g's member: what a
// malicious member can hand a joiner. change, when not nil, edits the
// GroupInfo before it is signed.
func forgeGroupInfo(t *testing.T, g *Group, nodes TreeNodes, change func(gi *GroupInfo)) *MLSMessage {
	t.Helper()
	m, err := g.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	gi := cloneMessage(t, m).GroupInfo
	gi.raw = nil
	if tree, err := RatchetTreeFromNodes(g.suite, nodes); err == nil {
		gi.GroupContext.TreeHash = tree.TreeHash()
	}
	data, err := nodes.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i := range gi.Extensions {
		if gi.Extensions[i].ExtensionType == ExtensionTypeRatchetTree {
			gi.Extensions[i].ExtensionData = data
		}
	}
	if change != nil {
		change(gi)
	}
	tbs, err := gi.TBS()
	if err != nil {
		t.Fatal(err)
	}
	if gi.Signature, err = g.suite.SignWithLabel(g.id.SigningKey, "GroupInfoTBS", tbs); err != nil {
		t.Fatal(err)
	}
	return cloneMessage(t, &MLSMessage{GroupInfo: gi})
}

// treeNodes returns a deep copy of g's ratchet tree, through its encoding.
func treeNodes(t *testing.T, g *Group) TreeNodes {
	t.Helper()
	data, err := g.tree.Nodes().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var nodes TreeNodes
	if err := nodes.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return nodes
}

// expectJoinRule has a newcomer join by external commit from gi and checks
// that it fails with a *ValidationError of rule.
func expectJoinRule(t *testing.T, gi *MLSMessage, rule string) {
	t.Helper()
	id, err := NewBasicIdentity(groupSuite, "newcomer")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = JoinExternal(gi, id, nil, nil)
	checkRule(t, err, rule)
}

// resignExternal re-signs an external commit after change edits it, as
// the joiner (whose key is id's) can; the confirmation tag is kept.
func resignExternal(t *testing.T, g *Group, id *Identity, commit *MLSMessage, change func(c *Commit)) *MLSMessage {
	t.Helper()
	m := cloneMessage(t, commit).PublicMessage
	change(m.Content.Commit)
	pc, err := NewProtectionContext(&g.gc, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := pc.Sign(id.SigningKey, WireFormatPublicMessage, &m.Content)
	if err != nil {
		t.Fatal(err)
	}
	ac.Auth.ConfirmationTag = m.Auth.ConfirmationTag
	out, err := pc.ProtectPublic(ac)
	if err != nil {
		t.Fatal(err)
	}
	return &MLSMessage{PublicMessage: out}
}

// resignCommit re-signs g's own commit after change edits it and sets a
// fresh membership tag: what a malicious committer can send.
func resignCommit(t *testing.T, g *Group, commit *MLSMessage, change func(c *Commit)) *MLSMessage {
	t.Helper()
	m := cloneMessage(t, commit).PublicMessage
	change(m.Content.Commit)
	ac, err := g.pc.Sign(g.id.SigningKey, WireFormatPublicMessage, &m.Content)
	if err != nil {
		t.Fatal(err)
	}
	ac.Auth.ConfirmationTag = m.Auth.ConfirmationTag
	out, err := g.pc.ProtectPublic(ac)
	if err != nil {
		t.Fatal(err)
	}
	return &MLSMessage{PublicMessage: out}
}

// newHoleGroup returns a group of alice, bob, carol, erin and frank at
// leaves 0, 1, 2, 4 and 5, leaf 3 blank (dave was removed), handshakes
// as PublicMessages and credentials checked by cfg's validator: an
// external joiner takes leaf 3, whether or not it removes frank.
func newHoleGroup(t *testing.T, cfg *Config) *testGroup {
	t.Helper()
	tg := newTestGroup(t, groupSuite, cfg, "alice")
	tg.add("alice", "bob", "carol", "dave", "erin", "frank")
	tg.commit("alice", CommitOptions{Remove: []LeafIndex{tg.leafOf("dave")}}, nil)
	delete(tg.members, "dave")
	return tg
}

// TestRegressionOpenMLS_GHSA_94v4_rg25_x625: a member that an external
// commit removes (the joiner's old appearance, RFC 9420 section 12.4.3.2)
// must leave the group, and see that it did; and an external commit may
// remove only someone the joiner's credential may succeed (section 12.2:
// the application's validator is asked, with the removed member's
// credential as the previous one).
func TestRegressionOpenMLS_GHSA_94v4_rg25_x625(t *testing.T) {
	cfg := &Config{PublicHandshake: true, CredentialValidator: BasicAllowList("alice", "bob", "carol", "dave", "erin", "frank", "eve")}
	tg := newHoleGroup(t, cfg)
	alice, frank := tg.members["alice"], tg.members["frank"]
	oldLeaf := frank.OwnLeaf()
	gi, err := alice.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, commit, err := JoinExternal(gi, frank.Identity(), cfg, &ExternalJoinOptions{Resync: true})
	if err != nil {
		t.Fatal(err)
	}

	// Eve's external commit that removes Frank is refused.
	eve := mustIdentity(t, "eve")
	_, eveCommit, err := JoinExternal(gi, eve, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	evil := resignExternal(t, alice, eve, eveCommit, func(c *Commit) {
		c.Proposals = append(c.Proposals, ProposalOrRef{Proposal: &Proposal{Remove: &RemoveProposal{Removed: oldLeaf}}})
	})
	epoch := alice.Epoch()
	_, err = alice.Process(evil)
	if !errors.Is(err, ErrCredentialRejected) || alice.Epoch() != epoch {
		t.Fatalf("an outsider's external commit removing a member: %v", err)
	}
	checkRule(t, err, "credential")

	// Frank's old appearance processes his resync: removed, and inactive.
	r, err := frank.Process(commit)
	if err != nil {
		t.Fatal(err)
	}
	if !r.NewEpoch.RemovedSelf || frank.Active() {
		t.Fatal("the member an external commit removed stays in the group")
	}
	if _, err := frank.Send([]byte("still here?")); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("removed member sends: %v", err)
	}
	// The others see his old leaf removed and blank.
	r, err = alice.Process(commit)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.NewEpoch.Removed) != 1 || r.NewEpoch.Removed[0].Leaf != oldLeaf || alice.tree.Leaf(oldLeaf) != nil {
		t.Fatalf("removed: %+v, want leaf %d, now blank", r.NewEpoch.Removed, oldLeaf)
	}
}

// TestRegressionOpenMLS_GHSA_gc79_23g3_8g52: a ratchet_tree extension
// nested in a leaf node's extensions, level after level, made OpenMLS
// recurse without bound while decoding (its decoder decoded every known
// extension's body on sight). Arbor decodes an extension's body only
// where it acts on it (a GroupInfo's ratchet_tree, when joining), so a
// KeyPackage nesting a thousand levels decodes flat, in one pass.
func TestRegressionOpenMLS_GHSA_gc79_23g3_8g52(t *testing.T) {
	id, kp := newKeyPackage(t, groupSuite, "mallory")
	leaf := kp.KeyPackage.LeafNode
	inner := leaf
	for range 1000 {
		data, err := TreeNodes{{Leaf: &inner}}.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		next := leaf
		next.raw = nil
		next.Extensions = Extensions{{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: data}}
		inner = next
	}
	bad := *kp.KeyPackage
	bad.raw = nil
	bad.LeafNode = inner
	s := testSuite(t, groupSuite)
	tbs, err := bad.LeafNode.TBS(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if bad.LeafNode.Signature, err = s.SignWithLabel(id.SigningKey, "LeafNodeTBS", tbs); err != nil {
		t.Fatal(err)
	}
	ktbs, err := bad.TBS()
	if err != nil {
		t.Fatal(err)
	}
	if bad.Signature, err = s.SignWithLabel(id.SigningKey, "KeyPackageTBS", ktbs); err != nil {
		t.Fatal(err)
	}
	data, err := (&MLSMessage{KeyPackage: &bad}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var msg MLSMessage
	if err := msg.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	// The nested tree stays opaque bytes: nothing decoded it.
	exts := msg.KeyPackage.LeafNode.Extensions
	if len(exts) != 1 || !bytes.Equal(exts[0].ExtensionData, bad.LeafNode.Extensions[0].ExtensionData) {
		t.Fatal("the leaf's extension was not kept as it came")
	}
	// Validation does not look inside it either (a default extension
	// type needs no capabilities entry, RFC 9420 section 7.2).
	if err := msg.KeyPackage.Validate(groupSuite, nil); err != nil {
		t.Fatalf("KeyPackage with the nested extension: %v", err)
	}
}

// TestRegressionOpenMLS_GHSA_8x3w_qj7j_gqhf: OpenMLS compared MACs over the
// shorter of the two lengths, so a truncated or empty membership tag or
// confirmation tag verified. Arbor compares whole tags in constant time.
func TestRegressionOpenMLS_GHSA_8x3w_qj7j_gqhf(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	prop, err := bob.ProposeRemove(tg.leafOf("dave"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(prop.PublicMessage.MembershipTag)
	for _, l := range []int{0, 1, n / 2, n - 1} {
		bad := cloneMessage(t, prop)
		bad.PublicMessage.MembershipTag = bad.PublicMessage.MembershipTag[:l]
		if _, err := alice.Process(bad); !errors.Is(err, ErrBadMembershipTag) {
			t.Fatalf("membership tag cut to %d bytes: %v", l, err)
		}
	}
	pc, err := bob.Commit(CommitOptions{Update: true, IgnorePending: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []int{0, 1, n / 2, n - 1} {
		bad := cloneMessage(t, pc.Commit)
		bad.PublicMessage.Auth.ConfirmationTag = bad.PublicMessage.Auth.ConfirmationTag[:l]
		remask(t, alice, bad.PublicMessage)
		if _, err := alice.Process(bad); !errors.Is(err, ErrBadConfirmationTag) {
			t.Fatalf("confirmation tag cut to %d bytes: %v", l, err)
		}
		if alice.Epoch() != 1 {
			t.Fatal("epoch changed")
		}
	}
	tg.broadcast("bob", pc.Commit)
	if _, err := bob.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tg.check()
}

// TestRegressionOpenMLS_GHSA_rrmv_c79f_cf5r: malformed bytes made OpenMLS
// panic in hand-written deserialization before any authentication. Every
// truncation of every kind of message is refused with ErrMalformed.
func TestRegressionOpenMLS_GHSA_rrmv_c79f_cf5r(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	_, kp := newKeyPackage(t, groupSuite, "erin")
	pc, err := alice.Commit(CommitOptions{Add: []*KeyPackage{kp.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	gi, err := bob.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := bob.Send([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*MLSMessage{
		"commit": pc.Commit, "welcome": pc.Welcome, "group info": gi, "application": app,
		"key package": {KeyPackage: kp.KeyPackage},
	} {
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for cut := range len(data) {
			var got MLSMessage
			if err := got.UnmarshalBinary(data[:cut]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s cut to %d of %d bytes: %v", name, cut, len(data), err)
			}
		}
	}
}

// TestRegressionOpenMLS_GHSA_qr9h_x63w_vqfm: OpenMLS did not persist the
// secret tree after processing a message, so a reloaded group could
// decrypt it again (a replay, and a key kept against forward secrecy).
func TestRegressionOpenMLS_GHSA_qr9h_x63w_vqfm(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	app, err := bob.Send([]byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(app); err != nil {
		t.Fatal(err)
	}
	state, err := alice.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadGroup(state, tg.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Process(app); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay after reload: %v", err)
	}
}

// TestRegressionOpenMLS_PR1933: a joiner must check that every member
// supports the group's extensions (RFC 9420 sections 12.4.3.1 and 13.4);
// OpenMLS checked only some of them. A GroupInfo naming an extension no
// leaf supports is refused.
func TestRegressionOpenMLS_PR1933(t *testing.T) {
	tg := newValidationGroup(t)
	alice := tg.members["alice"]
	gi := forgeGroupInfo(t, alice, treeNodes(t, alice), func(gi *GroupInfo) {
		gi.GroupContext.Extensions = append(gi.GroupContext.Extensions, Extension{ExtensionType: 0xFF00, ExtensionData: []byte{}})
	})
	_, _, err := JoinExternal(gi, mustIdentity(t, "newcomer"), nil, nil)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Rule != "group_extensions" {
		t.Fatalf("unsupported group extension: %v", err)
	}
}

func mustIdentity(t *testing.T, name string) *Identity {
	t.Helper()
	id, err := NewBasicIdentity(groupSuite, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRegressionOpenMLS_PR2207: OpenMLS did not check the signature key
// of an external commit's path leaf for uniqueness. A member who joins
// again by external commit without removing her old leaf presents her
// signature key twice, and is refused (RFC 9420 section 7.3).
func TestRegressionOpenMLS_PR2207(t *testing.T) {
	tg := newHoleGroup(t, &Config{PublicHandshake: true})
	alice, bob, frank := tg.members["alice"], tg.members["bob"], tg.members["frank"]
	gi, err := alice.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Arbor will not build it...
	_, _, err = JoinExternal(gi, frank.Identity(), tg.cfg, nil)
	checkRule(t, err, "unique_signature_key")
	// ...and the members refuse it built by hand: Frank's resync commit
	// without its Remove (he joins at leaf 3 either way).
	_, commit, err := JoinExternal(gi, frank.Identity(), tg.cfg, &ExternalJoinOptions{Resync: true})
	if err != nil {
		t.Fatal(err)
	}
	bad := resignExternal(t, bob, frank.Identity(), commit, func(c *Commit) {
		kept := c.Proposals[:0]
		for _, p := range c.Proposals {
			if p.Proposal == nil || p.Proposal.Remove == nil {
				kept = append(kept, p)
			}
		}
		c.Proposals = kept
	})
	expectGroupRule(t, bob, bad, "unique_signature_key")
}

// TestRegressionOpenMLS_PR1928: a commit may not inject one PSK twice
// (RFC 9420 section 12.2); OpenMLS accepted it.
func TestRegressionOpenMLS_PR1928(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	nonce := bytes.Repeat([]byte{7}, 32)
	psk := &Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("x"), PSKNonce: nonce}}}
	expectGroupRule(t, bob, forgeCommit(t, alice, byValue(psk, psk)), ruleDuplicatePSK)
}

// TestRegressionMLSRS_PR352: mls-rs rejected valid trees made by a run of
// adds and removes, where the sibling subtree of a parent-hash link had a
// blank ancestor above a node whose unmerged_leaves changed. Arbor
// computes the original sibling tree hash from the whole subtree; each
// step of such a run leaves a tree that a newcomer accepts.
func TestRegressionMLSRS_PR352(t *testing.T) {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "m0")
	names := []string{"m1", "m2", "m3", "m4", "m5", "m6", "m7"}
	tg.add("m0", names...)
	joinable := func(step string) {
		t.Helper()
		gi, err := tg.members["m0"].GroupInfo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := JoinExternal(gi, mustIdentity(t, "probe"), nil, nil); err != nil {
			t.Fatalf("after %s: the tree is refused: %v", step, err)
		}
	}
	// Members on the right update, so that their parents are set; removes
	// then blank the parents above, and adds put unmerged leaves below
	// those blank ancestors; members on the left commit between.
	tg.commit("m4", CommitOptions{Update: true}, nil)
	tg.commit("m6", CommitOptions{Update: true}, nil)
	joinable("updates on the right")
	tg.commit("m0", CommitOptions{Remove: []LeafIndex{tg.leafOf("m5")}}, nil)
	delete(tg.members, "m5")
	joinable("a remove blanking the right's parents")
	tg.add("m1", "n1")
	joinable("an add below a blank ancestor")
	tg.commit("m2", CommitOptions{Remove: []LeafIndex{tg.leafOf("m7")}}, nil)
	delete(tg.members, "m7")
	tg.add("m3", "n2", "n3")
	joinable("a second remove and adds")
	tg.commit("m6", CommitOptions{Update: true}, nil)
	joinable("a commit from below the blank ancestor")
	tg.add("m0", "n4", "n5", "n6")
	joinable("adds that grow the tree")
	tg.check()
}

// newPathGroup is newValidationGroup after commits with paths from alice
// and carol, so that the tree has parent nodes with parent hashes.
func newPathGroup(t *testing.T) *testGroup {
	t.Helper()
	tg := newValidationGroup(t)
	tg.commit("carol", CommitOptions{Update: true}, nil)
	tg.commit("alice", CommitOptions{Update: true}, nil)
	return tg
}

// TestRegressionMLSRS_PR360: mls-rs once accepted a leaf whose
// parent_hash had been emptied. A member that empties her own commit
// leaf's parent_hash, re-signs it and hands out the tree is refused.
func TestRegressionMLSRS_PR360(t *testing.T) {
	tg := newPathGroup(t)
	alice := tg.members["alice"]
	nodes := treeNodes(t, alice)
	leaf := nodes[alice.OwnLeaf().NodeIndex()].Leaf
	if leaf.LeafNodeSource != LeafNodeSourceCommit || len(leaf.ParentHash) == 0 {
		t.Fatal("alice's leaf is not a commit leaf")
	}
	leaf.ParentHash = nil
	signLeaf(t, alice.suite, leaf, alice.id.SigningKey, alice.gc.GroupID, alice.OwnLeaf())
	expectJoinRule(t, forgeGroupInfo(t, alice, nodes, nil), "parent_hash")
}

// TestRegressionMLSRS_PR362: mls-rs accepted a parent node at a leaf's
// position (and node lists of even length), and the tree hash still
// matched. Arbor refuses both shapes while decoding the tree.
func TestRegressionMLSRS_PR362(t *testing.T) {
	tg := newPathGroup(t)
	alice := tg.members["alice"]
	nodes := treeNodes(t, alice)
	var parent *ParentNode
	for _, n := range nodes {
		if n != nil && n.Parent != nil {
			parent = n.Parent
		}
	}
	if parent == nil {
		t.Fatal("no parent node")
	}
	// A parent where a leaf belongs is not a tree.
	atLeaf := append(append(TreeNodes{}, nodes[:2]...), append(TreeNodes{{Parent: parent}}, nodes[3:]...)...)
	if _, err := RatchetTreeFromNodes(alice.suite, atLeaf); !errors.Is(err, ErrTreeShape) {
		t.Fatalf("a parent at a leaf position: %v", err)
	}
	if _, _, err := JoinExternal(forgeGroupInfo(t, alice, atLeaf, nil), mustIdentity(t, "newcomer"), nil, nil); !errors.Is(err, ErrTreeShape) {
		t.Fatalf("joining with a parent at a leaf position: %v", err)
	}
	// A list of even length ends in a parent over a blank subtree, which
	// no commit can have set: no child links to it.
	_, kp := newKeyPackage(t, groupSuite, "fresh")
	even := append(append(TreeNodes{}, nodes...), &Node{Parent: &ParentNode{EncryptionKey: kp.KeyPackage.InitKey}})
	expectJoinRule(t, forgeGroupInfo(t, alice, even, nil), "parent_hash")
}

// TestRegressionMLSRS_PR315: parent-hash validation in mls-rs could
// return success before checking every parent. A parent high in the
// tree whose parent_hash is changed breaks the chain, and is refused.
func TestRegressionMLSRS_PR315(t *testing.T) {
	tg := newPathGroup(t)
	alice := tg.members["alice"]
	nodes := treeNodes(t, alice)
	changed := false
	for x := len(nodes) - 1; x >= 0 && !changed; x-- {
		if n := nodes[x]; n != nil && n.Parent != nil && len(n.Parent.ParentHash) > 0 {
			n.Parent.ParentHash = bytes.Clone(n.Parent.ParentHash)
			n.Parent.ParentHash[0] ^= 1
			changed = true
		}
	}
	if !changed {
		t.Fatal("no parent with a parent_hash")
	}
	expectJoinRule(t, forgeGroupInfo(t, alice, nodes, nil), "parent_hash")
}

// TestRegressionTSMLS_UpdatePathKeys: ts-mls did not check that the keys
// of an UpdatePath are unique in the tree (RFC 9420 section 12.4.2). A
// path repeating a key of the tree, or one of its own, is refused before
// its parent hashes are even computed.
func TestRegressionTSMLS_UpdatePathKeys(t *testing.T) {
	tg := newPathGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	pc, err := bob.Commit(CommitOptions{Update: true, IgnorePending: true})
	if err != nil {
		t.Fatal(err)
	}
	var inTree []byte
	for x, n := range alice.tree.Nodes() {
		if n != nil && n.Parent != nil && NodeIndex(x) != bob.OwnLeaf().NodeIndex() {
			inTree = n.Parent.EncryptionKey
		}
	}
	carolKey := alice.tree.Leaf(tg.leafOf("carol")).EncryptionKey
	for name, change := range map[string]func(c *Commit){
		"a parent's key of the tree": func(c *Commit) { c.Path.Nodes[0].EncryptionKey = bytes.Clone(inTree) },
		"a leaf's key of the tree":   func(c *Commit) { c.Path.Nodes[0].EncryptionKey = bytes.Clone(carolKey) },
		"its own key twice": func(c *Commit) {
			c.Path.Nodes[len(c.Path.Nodes)-1].EncryptionKey = bytes.Clone(c.Path.Nodes[0].EncryptionKey)
		},
		"its leaf's key": func(c *Commit) { c.Path.Nodes[0].EncryptionKey = bytes.Clone(c.Path.LeafNode.EncryptionKey) },
	} {
		t.Run(name, func(t *testing.T) {
			expectGroupRule(t, alice, resignCommit(t, bob, pc.Commit, change), "unique_encryption_key")
		})
	}
	tg.broadcast("bob", pc.Commit)
	if _, err := bob.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tg.check()
}

// TestRegressionOpenMLS_PR1944: OpenMLS verified a message of a past
// epoch with the credential the sender's leaf holds now, not the one it
// held in that epoch. Bob's message of epoch 1, read by Alice after a
// commit that removed Bob and put Dave in his leaf, is Bob's: verified
// with his epoch-1 key and reported as his.
func TestRegressionOpenMLS_PR1944(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	alice, bob := tg.members["alice"], tg.members["bob"]
	bobLeaf := bob.OwnLeaf()
	late, err := bob.Send([]byte("sent before my removal"))
	if err != nil {
		t.Fatal(err)
	}
	_, kp := newKeyPackage(t, groupSuite, "dave")
	if _, err := alice.Commit(CommitOptions{Remove: []LeafIndex{bobLeaf}, Add: []*KeyPackage{kp.KeyPackage}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if m := alice.tree.Leaf(bobLeaf); m == nil || string(m.Credential.Identity) != "dave" {
		t.Fatal("Dave did not take Bob's leaf")
	}
	r, err := alice.Process(late)
	if err != nil {
		t.Fatalf("Bob's message of the past epoch: %v", err)
	}
	if r.Epoch != 1 || r.Member == nil || string(r.Member.Credential.Identity) != "bob" ||
		!bytes.Equal(r.Member.SignatureKey, bob.Identity().SigningKey.PublicKey()) || string(r.Data) != "sent before my removal" {
		t.Fatalf("the late message is reported as %+v in epoch %d", r.Member, r.Epoch)
	}
}
