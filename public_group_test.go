package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// expectObserverRule processes msg in the observer o and checks that it
// fails with a *ValidationError of rule, leaving o in its epoch: the
// observer refuses what a member refuses, naming the same rule.
func expectObserverRule(t *testing.T, o *PublicGroup, msg *MLSMessage, rule string) {
	t.Helper()
	before, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Process(msg)
	checkRule(t, err, rule)
	after, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the observer changed on a rejected message")
	}
}

// TestPublicGroupFollows has an observer follow a group through adds,
// Update proposals committed by reference, removes, an external commit
// and a resync, GroupContextExtensions and PSK-free commits with and
// without path; testGroup.check compares its GroupContext, confirmation
// tag, interim transcript hash and members with the members' after every
// commit, and its state goes through a save and load before every message.
func TestPublicGroupFollows(t *testing.T) {
	for _, suite := range []ciphersuite.ID{groupSuite, ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256} {
		tg := newTestGroup(t, suite, &Config{PublicHandshake: true}, "alice")
		tg.observe()
		tg.add("alice", "bob", "carol")
		upd, err := tg.members["bob"].ProposeUpdate()
		if err != nil {
			t.Fatal(err)
		}
		tg.broadcast("bob", upd)
		if n := len(tg.observer.PendingProposals()); n != 1 {
			t.Fatalf("observer caches %d proposals, want 1", n)
		}
		change := tg.commit("carol", CommitOptions{}, nil)
		if len(change.Updated) != 1 {
			t.Fatalf("updated %v", change.Updated)
		}
		tg.add("bob", "dave", "erin")
		rm, err := tg.members["alice"].ProposeRemove(tg.leafOf("dave"))
		if err != nil {
			t.Fatal(err)
		}
		tg.broadcast("alice", rm)
		tg.commit("erin", CommitOptions{}, nil)
		tg.commit("bob", CommitOptions{Remove: []LeafIndex{tg.leafOf("carol")}}, nil)
		tg.commit("alice", CommitOptions{Update: true}, nil)
		tg.commit("erin", CommitOptions{GroupContextExtensions: Extensions{}}, nil)
		frank := tg.joinExternal("bob", "frank", nil, nil)
		tg.members["frank"], tg.order = frank, append(tg.order, "frank")
		tg.check()
		id2 := &Identity{Credential: frank.Identity().Credential, SigningKey: mustKeyOf(t, suite)}
		frank2 := tg.joinExternal("alice", "frank", id2, &ExternalJoinOptions{Resync: true})
		tg.members["frank"] = frank2
		tg.check()
		tg.add("frank", "gina")
		tg.chat()
		if tg.observer.Epoch() != tg.members["alice"].Epoch() {
			t.Fatal("observer behind")
		}
	}
}

func mustKeyOf(t *testing.T, suite ciphersuite.ID) *ciphersuite.SigningKey {
	t.Helper()
	s, err := ciphersuite.Lookup(suite)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestPublicGroupExternalSenders follows proposals of a new member and of
// an external sender, and a ReInit that closes the group.
func TestPublicGroupExternalSenders(t *testing.T) {
	s, _ := ciphersuite.Lookup(groupSuite)
	extKey, _ := s.GenerateSigningKey()
	senders, _ := ExternalSenders{{SignatureKey: extKey.PublicKey(), Credential: NewBasicCredential([]byte("server"))}}.MarshalBinary()
	cfg := &Config{PublicHandshake: true}
	id, _ := NewBasicIdentity(groupSuite, "alice")
	alice, err := CreateGroup(id, cfg, &CreateOptions{Extensions: Extensions{{ExtensionType: ExtensionTypeExternalSenders, ExtensionData: senders}}})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGroup{t: t, suite: groupSuite, cfg: cfg, members: map[string]*Group{"alice": alice}, order: []string{"alice"}}
	tg.observe()
	tg.add("alice", "bob")
	carolID, carolKP := newKeyPackage(t, groupSuite, "carol")
	gi, _ := alice.GroupInfo(nil)
	msg, err := NewMemberProposal(gi, carolID, carolKP.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("", msg)
	tg.commit("bob", CommitOptions{}, map[string]*joiner{"carol": {carolID, carolKP}})
	msg, err = NewExternalProposal(alice.GroupID(), alice.Epoch(), 0, extKey, &Proposal{Remove: &RemoveProposal{Removed: tg.leafOf("bob")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("", msg)
	change := tg.commit("carol", CommitOptions{}, nil)
	if len(change.Removed) != 1 {
		t.Fatalf("removed %v", change.Removed)
	}
	// An external sender may not propose an Update: the observer names
	// the rule a member names.
	msg, _ = NewExternalProposal(alice.GroupID(), alice.Epoch(), 0, extKey, &Proposal{Update: &UpdateProposal{LeafNode: *alice.tree.Leaf(0)}}, nil)
	expectObserverRule(t, tg.observer, cloneMessage(t, msg), ruleProposalSender)
	expectGroupRule(t, alice, msg, ruleProposalSender)

	ri := &ReInitProposal{GroupID: []byte("next"), Version: ProtocolVersionMLS10, CipherSuite: groupSuite, Extensions: Extensions{}}
	tg.commit("alice", CommitOptions{Proposals: []Proposal{{ReInit: ri}}}, nil)
	if tg.observer.Active() {
		t.Fatal("observer still active after a ReInit")
	}
	data, _ := tg.observer.MarshalBinary()
	o, err := LoadPublicGroup(data, cfg)
	if err != nil || o.Active() {
		t.Fatalf("reloaded closed observer: %v, active %v", err, o != nil && o.Active())
	}
}

// TestPublicGroupRefuses feeds the observer messages a member refuses:
// a commit signed by another member's key, a commit whose path has a
// wrong parent hash or a missing ciphertext, a PrivateMessage, another
// epoch; and GroupInfos that are not the tracked epoch's.
func TestPublicGroupRefuses(t *testing.T) {
	tg := newValidationGroup(t)
	tg.observe()
	alice, bob := tg.members["alice"], tg.members["bob"]
	o := tg.observer

	pc, err := alice.Commit(CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	good := pc.Commit
	if err := alice.DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}

	// Forged: the sender leaf is Bob's, the signature Alice's.
	forged := cloneMessage(t, good)
	forged.PublicMessage.Content.Sender.LeafIndex = bob.OwnLeaf()
	for _, g := range []*struct {
		name string
		err  error
	}{{"observer", nil}, {"member", nil}} {
		var err error
		if g.name == "observer" {
			_, err = o.Process(cloneMessage(t, forged))
		} else {
			_, err = tg.members["carol"].Process(cloneMessage(t, forged))
		}
		if !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrBadMembershipTag) {
			t.Fatalf("%s: forged commit: %v", g.name, err)
		}
	}

	// A path whose leaf parent_hash is wrong, re-signed by Alice.
	c := cloneMessage(t, good).PublicMessage.Content.Commit
	c.Path.LeafNode.ParentHash = bytes.Repeat([]byte{7}, len(c.Path.LeafNode.ParentHash))
	if _, err := o.Process(forgeCommit(t, alice, c)); err == nil {
		t.Fatal("observer accepted a path with a wrong parent hash")
	}
	// A path node missing a ciphertext.
	c = cloneMessage(t, good).PublicMessage.Content.Commit
	last := &c.Path.Nodes[len(c.Path.Nodes)-1]
	last.EncryptedPathSecret = last.EncryptedPathSecret[1:]
	if _, err := o.Process(forgeCommit(t, alice, c)); err == nil {
		t.Fatal("observer accepted a path with a missing ciphertext")
	}
	if _, err := tg.members["carol"].Process(forgeCommit(t, alice, c)); err == nil {
		t.Fatal("member accepted a path with a missing ciphertext")
	}

	priv, err := alice.Send([]byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Process(priv); !errors.Is(err, ErrNotPublic) {
		t.Fatalf("PrivateMessage: %v", err)
	}
	old := cloneMessage(t, good)
	old.PublicMessage.Content.Epoch--
	if _, err := o.Process(old); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("old epoch: %v", err)
	}

	// The GroupInfo of the commit's epoch is not the current one; nor is
	// one whose tree lost a member.
	pc, err = alice.Commit(CommitOptions{Update: true, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.VerifyGroupInfo(pc.GroupInfo); err == nil {
		t.Fatal("a GroupInfo of the next epoch verifies")
	}
	if err := alice.DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}
	gi, err := alice.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	evict := cloneMessage(t, gi)
	nodes := alice.RatchetTree()
	short := append(TreeNodes(nil), nodes[:2]...)
	data, _ := short.MarshalBinary()
	for i, e := range evict.GroupInfo.Extensions {
		if e.ExtensionType == ExtensionTypeRatchetTree {
			evict.GroupInfo.Extensions[i].ExtensionData = data
		}
	}
	if err := evict.GroupInfo.Sign(alice.id.SigningKey); err != nil {
		t.Fatal(err)
	}
	if err := o.VerifyGroupInfo(evict); !errors.Is(err, ErrTreeHashMismatch) {
		t.Fatalf("a GroupInfo with another tree: %v", err)
	}
	if _, err := NewPublicGroup(evict, nil, nil); !errors.Is(err, ErrTreeHashMismatch) {
		t.Fatalf("NewPublicGroup from a GroupInfo with another tree: %v", err)
	}
	if err := o.VerifyGroupInfo(gi); err != nil {
		t.Fatal(err)
	}
	// After all this, the group and its observer go on.
	tg.commit("bob", CommitOptions{}, nil)
}

// TestPublicGroupOutOfBandTree starts an observer from a GroupInfo
// without the tree, given out of band.
func TestPublicGroupOutOfBandTree(t *testing.T) {
	tg := newValidationGroup(t)
	alice := tg.members["alice"]
	gi, err := alice.GroupInfo(&GroupInfoOptions{RatchetTreeOutOfBand: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPublicGroup(gi, nil, nil); err == nil {
		t.Fatal("observer without a tree")
	}
	o, err := NewPublicGroup(gi, nil, &PublicGroupOptions{RatchetTree: alice.RatchetTree()})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Members()) != 4 || !bytes.Equal(o.TreeHash(), alice.TreeHash()) {
		t.Fatal("observer state differs")
	}
}

// FuzzLoadPublicGroup checks that LoadPublicGroup never panics, fails only
// with ErrMalformed or ErrUnknownStateVersion, and that a state it accepts
// writes back unchanged (the encoding is canonical).
func FuzzLoadPublicGroup(f *testing.F) {
	for _, seed := range publicGroupSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := LoadPublicGroup(data, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownStateVersion) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrUnknownStateVersion: %v", err)
			}
			return
		}
		out, err := o.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Fatal("loaded state writes back differently")
		}
	})
}

// publicGroupSeeds returns states of an observer of a small group, with
// and without cached proposals.
func publicGroupSeeds(f *testing.F) [][]byte {
	tg := newTestGroup(f, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.observe()
	tg.add("alice", "bob", "carol")
	s1, err := tg.observer.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	upd, err := tg.members["bob"].ProposeUpdate()
	if err != nil {
		f.Fatal(err)
	}
	tg.broadcast("bob", upd)
	s2, err := tg.observer.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	return [][]byte{s1, s2}
}

// FuzzPublicGroupProcess feeds mutated messages of a group to an
// observer: it never panics, and whenever it accepts a commit its state
// still saves and loads.
func FuzzPublicGroupProcess(f *testing.F) {
	tg := newTestGroup(f, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob", "carol")
	tg.observe()
	state, err := tg.observer.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	pc, err := tg.members["alice"].Commit(CommitOptions{Update: true, Remove: []LeafIndex{tg.leafOf("carol")}})
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*MLSMessage{pc.Commit} {
		data, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	upd, err := tg.members["bob"].ProposeUpdate()
	if err != nil {
		f.Fatal(err)
	}
	data, _ := upd.MarshalBinary()
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MLSMessage
		if m.UnmarshalBinary(data) != nil {
			return
		}
		o, err := LoadPublicGroup(state, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Process(&m); err != nil {
			return
		}
		out, err := o.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPublicGroup(out, nil); err != nil {
			t.Fatalf("state after an accepted message does not load: %v", err)
		}
	})
}

// TestJoinRatchetTreeFunc: a joiner whose Welcome carries no tree asks
// JoinOptions.RatchetTreeFunc for the tree of the group and epoch the
// Welcome names, here an observer's (as a Delivery Service serves it);
// a tree that is not the group's is refused like an inline one.
func TestJoinRatchetTreeFunc(t *testing.T) {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob")
	tg.observe()
	alice := tg.members["alice"]
	carolID, carol := newKeyPackage(t, groupSuite, "carol")
	old := alice.RatchetTree()
	pc, err := alice.Commit(CommitOptions{Add: []*KeyPackage{carol.KeyPackage}, RatchetTreeOutOfBand: true})
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("alice", pc.Commit)
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if _, err := Join(carolID, pc.Welcome, carol, nil, nil); err == nil {
		t.Fatal("joined without a tree")
	}
	wrong := func([]byte, uint64) (TreeNodes, error) { return old, nil }
	if _, err := Join(carolID, pc.Welcome, carol, nil, &JoinOptions{RatchetTreeFunc: wrong}); !errors.Is(err, ErrTreeHashMismatch) {
		t.Fatalf("a tree of another epoch: %v", err)
	}
	var asked uint64
	fetch := func(gid []byte, epoch uint64) (TreeNodes, error) {
		if !bytes.Equal(gid, alice.GroupID()) {
			t.Fatal("asked for the tree of another group")
		}
		asked = epoch
		return tg.observer.RatchetTree(), nil
	}
	g, err := Join(carolID, pc.Welcome, carol, nil, &JoinOptions{RatchetTreeFunc: fetch})
	if err != nil {
		t.Fatal(err)
	}
	if asked != alice.Epoch() || !bytes.Equal(g.EpochAuthenticator(), alice.EpochAuthenticator()) {
		t.Fatalf("asked for epoch %d, joined another state", asked)
	}
}
