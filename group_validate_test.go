package mls

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

// expectRule processes msg in g and checks that it fails with a
// *ValidationError of rule, leaving g in its epoch.
func expectGroupRule(t *testing.T, g *Group, msg *MLSMessage, rule string) {
	t.Helper()
	epoch := g.Epoch()
	_, err := g.Process(msg)
	checkRule(t, err, rule)
	if g.Epoch() != epoch {
		t.Fatal("the group changed epoch on a rejected message")
	}
}

// checkRule checks that err is a *ValidationError of rule whose text cites
// the RFC.
func checkRule(t *testing.T, err error, rule string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Rule != rule {
		t.Fatalf("got %v, want a violation of %s", err, rule)
	}
	if !strings.Contains(err.Error(), "RFC 9420 section") {
		t.Fatalf("%q does not cite the RFC", err)
	}
}

// forgeCommit has g sign and frame commit as a PublicMessage without
// checking it, with a zero confirmation tag: what a misbehaving member
// could send.
func forgeCommit(t *testing.T, g *Group, commit *Commit) *MLSMessage {
	t.Helper()
	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: g.ownSender(), ContentType: ContentTypeCommit, Commit: commit}
	ac, err := g.pc.Sign(g.id.SigningKey, WireFormatPublicMessage, content)
	if err != nil {
		t.Fatal(err)
	}
	ac.Auth.ConfirmationTag = make([]byte, g.suite.HashSize())
	m, err := g.pc.ProtectPublic(ac)
	if err != nil {
		t.Fatal(err)
	}
	return &MLSMessage{PublicMessage: m}
}

// byValue returns a commit of ps by value, without a path.
func byValue(ps ...*Proposal) *Commit {
	c := &Commit{}
	for _, p := range ps {
		c.Proposals = append(c.Proposals, ProposalOrRef{Proposal: p})
	}
	return c
}

// remask recomputes the membership tag of m with g's membership key, after
// a test changed the message.
func remask(t *testing.T, g *Group, m *PublicMessage) {
	t.Helper()
	tbm, err := m.TBM(g.pc.GroupContext())
	if err != nil {
		t.Fatal(err)
	}
	m.MembershipTag = g.suite.MAC(g.pc.membershipKey, tbm)
}

// clone copies a message through its encoding.
func cloneMessage(t testing.TB, m *MLSMessage) *MLSMessage {
	t.Helper()
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var c MLSMessage
	if err := c.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	return &c
}

func newValidationGroup(t *testing.T) *testGroup {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob", "carol", "dave")
	return tg
}

func TestCommitProposalListRules(t *testing.T) {
	tg := newValidationGroup(t)
	tg.observe()
	alice, bob, carol := tg.members["alice"], tg.members["bob"], tg.members["carol"]
	_, kp := newKeyPackage(t, groupSuite, "erin")
	add := &Proposal{Add: &AddProposal{KeyPackage: *kp.KeyPackage}}
	rm := func(l LeafIndex) *Proposal { return &Proposal{Remove: &RemoveProposal{Removed: l}} }
	nonce := make([]byte, 32)
	rand.Read(nonce)
	psk := &Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("x"), PSKNonce: nonce}}}
	gce := &Proposal{GroupContextExtensions: &GroupContextExtensionsProposal{Extensions: Extensions{}}}
	reinit := &Proposal{ReInit: alice.newReInit(nil, groupSuite, nil)}
	// Bob's copy of his own KeyPackage: the same signature key as his leaf.
	bobKP, err := NewKeyPackage(bob.Identity(), nil)
	if err != nil {
		t.Fatal(err)
	}

	// Bob proposes an update, cached by everyone.
	upd, err := bob.ProposeUpdate()
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", upd)
	updRef := alice.PendingProposals()[0].Ref

	for _, tc := range []struct {
		name   string
		from   *Group
		to     *Group
		commit *Commit
		rule   string
	}{
		{"committer removes itself", alice, bob, byValue(rm(alice.OwnLeaf())), ruleRemoveCommitter},
		{"duplicate add", alice, bob, byValue(add, add), ruleDuplicateAdd},
		{"add of a member", alice, bob, byValue(&Proposal{Add: &AddProposal{KeyPackage: *bobKP.KeyPackage}}), ruleAddExistingMember},
		{"update and remove of one leaf", alice, carol, &Commit{Proposals: []ProposalOrRef{{Reference: updRef}, {Proposal: rm(bob.OwnLeaf())}}}, ruleSameLeafTwice},
		{"remove twice", alice, carol, byValue(rm(carol.OwnLeaf()), rm(carol.OwnLeaf())), ruleSameLeafTwice},
		{"committer's own update", bob, carol, &Commit{Proposals: []ProposalOrRef{{Reference: updRef}}}, ruleUpdateByCommitter},
		{"unknown proposal ref", alice, bob, &Commit{Proposals: []ProposalOrRef{{Reference: bytes.Repeat([]byte{1}, 32)}}}, ruleUnknownProposalRef},
		{"path missing for a remove", alice, bob, byValue(rm(carol.OwnLeaf())), rulePathRequired},
		{"path missing in an empty commit", alice, bob, &Commit{}, rulePathRequired},
		{"multiple GroupContextExtensions", alice, bob, byValue(gce, gce), ruleMultipleGCE},
		{"ExternalInit in a member commit", alice, bob, byValue(&Proposal{ExternalInit: &ExternalInitProposal{KEMOutput: make([]byte, 32)}}), ruleExternalInitInCommit},
		{"duplicate PSK", alice, bob, byValue(psk, psk), ruleDuplicatePSK},
		{"ReInit with another proposal", alice, bob, byValue(reinit, add), ruleReInitNotAlone},
		{"remove of a blank leaf", alice, bob, byValue(rm(40)), ruleRemoveBlank},
		{"reinit PSK in a proposal", alice, bob, byValue(&Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: PreSharedKeyID{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageReInit, PSKGroupID: []byte("g"), PSKNonce: nonce}}}), rulePSKUsage},
		{"short PSK nonce", alice, bob, byValue(&Proposal{PreSharedKey: &PreSharedKeyProposal{PSK: PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("x"), PSKNonce: nonce[:5]}}}), rulePSKNonce},
		{"ReInit to an older version", alice, bob, byValue(&Proposal{ReInit: &ReInitProposal{GroupID: []byte("g"), Version: 0, CipherSuite: groupSuite, Extensions: Extensions{}}}), ruleReInitVersion},
		{"GroupContextExtensions a member does not support", alice, bob, byValue(&Proposal{GroupContextExtensions: &GroupContextExtensionsProposal{Extensions: Extensions{{ExtensionType: 0xFF00, ExtensionData: []byte{}}}}}), ruleGroupExtensions},
		{"GroupContextExtensions with a duplicate", alice, bob, byValue(&Proposal{GroupContextExtensions: &GroupContextExtensionsProposal{Extensions: Extensions{{ExtensionType: 0xFF00}, {ExtensionType: 0xFF00}}}}), ruleDuplicateExtension},
		{"unsupported custom proposal", alice, bob, byValue(&Proposal{Unknown: &UnknownProposal{ProposalType: 0xF0F0, Data: []byte{}}}), ruleUnsupportedProposal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := forgeCommit(t, tc.from, tc.commit)
			expectObserverRule(t, tg.observer, cloneMessage(t, msg), tc.rule)
			expectGroupRule(t, tc.to, msg, tc.rule)
		})
	}

	// The committer's side refuses the same lists.
	for _, tc := range []struct {
		name string
		opts CommitOptions
		rule string
	}{
		{"committer removes itself", CommitOptions{Remove: []LeafIndex{alice.OwnLeaf()}}, ruleRemoveCommitter},
		{"duplicate add", CommitOptions{Add: []*KeyPackage{kp.KeyPackage, kp.KeyPackage}}, ruleDuplicateAdd},
		{"add of a member", CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage}}, ruleAddExistingMember},
		{"multiple GroupContextExtensions", CommitOptions{GroupContextExtensions: Extensions{}, Proposals: []Proposal{*gce}}, ruleMultipleGCE},
		{"unsupported GroupContextExtensions", CommitOptions{IgnorePending: true, GroupContextExtensions: Extensions{{ExtensionType: 0xFF00, ExtensionData: []byte{}}}}, ruleGroupExtensions},
		{"ReInit with another proposal", CommitOptions{Proposals: []Proposal{*reinit}, Add: []*KeyPackage{kp.KeyPackage}}, ruleReInitNotAlone},
	} {
		t.Run("commit/"+tc.name, func(t *testing.T) {
			_, err := alice.Commit(tc.opts)
			checkRule(t, err, tc.rule)
			if alice.HasPendingCommit() {
				t.Fatal("a rejected commit is pending")
			}
		})
	}

	// After all this, the cached update still commits.
	tg.commit("alice", CommitOptions{}, nil)
	tg.chat()
}

func TestMessageProtectionRules(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]

	prop, err := bob.ProposeRemove(tg.leafOf("dave"))
	if err != nil {
		t.Fatal(err)
	}
	// A tampered signature, under a valid membership tag.
	bad := cloneMessage(t, prop)
	bad.PublicMessage.Auth.Signature[0] ^= 1
	remask(t, alice, bad.PublicMessage)
	if _, err := alice.Process(bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered signature: %v", err)
	}
	// A bad membership tag.
	bad = cloneMessage(t, prop)
	bad.PublicMessage.MembershipTag[0] ^= 1
	if _, err := alice.Process(bad); !errors.Is(err, ErrBadMembershipTag) {
		t.Fatalf("bad membership tag: %v", err)
	}
	// Another group, a future epoch.
	bad = cloneMessage(t, prop)
	bad.PublicMessage.Content.GroupID = []byte("other")
	if _, err := alice.Process(bad); !errors.Is(err, ErrWrongGroup) {
		t.Fatalf("wrong group: %v", err)
	}
	bad = cloneMessage(t, prop)
	bad.PublicMessage.Content.Epoch += 5
	if _, err := alice.Process(bad); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("future epoch: %v", err)
	}

	// A commit whose confirmation tag is wrong leaves the group as it was;
	// the real one is then accepted.
	pc, err := bob.Commit(CommitOptions{Update: true, IgnorePending: true})
	if err != nil {
		t.Fatal(err)
	}
	bad = cloneMessage(t, pc.Commit)
	bad.PublicMessage.Auth.ConfirmationTag[0] ^= 1
	remask(t, alice, bad.PublicMessage)
	if _, err := alice.Process(bad); !errors.Is(err, ErrBadConfirmationTag) {
		t.Fatalf("wrong confirmation tag: %v", err)
	}
	if alice.Epoch() != 1 {
		t.Fatal("epoch changed")
	}
	tg.broadcast("bob", pc.Commit)
	if _, err := bob.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tg.check()

	// The proposal of the previous epoch is now refused.
	if _, err := alice.Process(prop); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("proposal of a past epoch: %v", err)
	}

	// A replayed application message.
	app, err := bob.Send([]byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(app); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(app); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replay: %v", err)
	}
	// One's own message is not processed.
	if _, err := bob.Process(app); !errors.Is(err, ErrOwnMessage) {
		t.Fatalf("own message: %v", err)
	}

	// Once Dave is removed, a message in his name is refused.
	daveLeaf := tg.leafOf("dave")
	dave := tg.members["dave"]
	tg.commit("alice", CommitOptions{Remove: []LeafIndex{daveLeaf}}, nil)
	content := &FramedContent{GroupID: alice.gc.GroupID, Epoch: alice.gc.Epoch, Sender: Sender{SenderType: SenderTypeMember, LeafIndex: daveLeaf}, ContentType: ContentTypeProposal, Proposal: &Proposal{Remove: &RemoveProposal{Removed: 0}}}
	ac, err := alice.pc.Sign(dave.id.SigningKey, WireFormatPublicMessage, content)
	if err != nil {
		t.Fatal(err)
	}
	m, err := alice.pc.ProtectPublic(ac)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Process(&MLSMessage{PublicMessage: m}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("message from a removed member: %v", err)
	}
	if _, err := dave.Send([]byte("hi")); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("removed member sends: %v", err)
	}
}

func TestExternalCommitRules(t *testing.T) {
	tg := newValidationGroup(t)
	alice, bob := tg.members["alice"], tg.members["bob"]
	gi, err := alice.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := NewBasicIdentity(groupSuite, "eve")
	_, commit, err := JoinExternal(gi, id, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Re-sign a changed external commit as the joiner would.
	resign := func(change func(c *Commit)) *MLSMessage {
		m := cloneMessage(t, commit).PublicMessage
		change(m.Content.Commit)
		pc, err := NewProtectionContext(&bob.gc, nil, nil, nil)
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
	_, kp := newKeyPackage(t, groupSuite, "frank")
	for _, tc := range []struct {
		name   string
		change func(c *Commit)
	}{
		{"by reference", func(c *Commit) {
			c.Proposals = append(c.Proposals, ProposalOrRef{Reference: bytes.Repeat([]byte{2}, 32)})
		}},
		{"without ExternalInit", func(c *Commit) { c.Proposals = nil }},
		{"with an Add", func(c *Commit) {
			c.Proposals = append(c.Proposals, ProposalOrRef{Proposal: &Proposal{Add: &AddProposal{KeyPackage: *kp.KeyPackage}}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectGroupRule(t, bob, resign(tc.change), ruleExternalCommit)
		})
	}
	// The commit as sent is accepted.
	if _, err := bob.Process(commit); err != nil {
		t.Fatal(err)
	}
}

func TestLifetimeAndCredentialPolicy(t *testing.T) {
	_, kp := newKeyPackage(t, groupSuite, "bob")
	// A KeyPackage this client adds is checked against the clock, even
	// with Lifetimes.CheckReceived off.
	future := func() time.Time { return time.Now().Add(5 * 365 * 24 * time.Hour) }
	tg := newTestGroup(t, groupSuite, &Config{Lifetimes: LifetimePolicy{Now: future}}, "alice")
	if _, err := tg.members["alice"].Commit(CommitOptions{Add: []*KeyPackage{kp.KeyPackage}}); err == nil {
		t.Fatal("expired KeyPackage added")
	}

	// The Authentication Service decides who may join, and what a joiner
	// accepts in the tree.
	cfg := &Config{CredentialValidator: BasicAllowList("alice", "bob")}
	tg = newTestGroup(t, groupSuite, cfg, "alice")
	_, mallory := newKeyPackage(t, groupSuite, "mallory")
	_, err := tg.members["alice"].Commit(CommitOptions{Add: []*KeyPackage{mallory.KeyPackage}})
	if !errors.Is(err, ErrCredentialRejected) {
		t.Fatalf("add of a rejected credential: %v", err)
	}
	bobID, bobKP := newKeyPackage(t, groupSuite, "bob")
	pc, err := tg.members["alice"].Commit(CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Join(bobID, pc.Welcome, bobKP, &Config{CredentialValidator: BasicAllowList("bob")}, nil); !errors.Is(err, ErrCredentialRejected) {
		t.Fatalf("join of a tree with a rejected member: %v", err)
	}
	if _, err := Join(bobID, pc.Welcome, bobKP, cfg, nil); err != nil {
		t.Fatal(err)
	}
}

// TestJoinBatchVerifyTree joins a 700-member group with BatchVerifyTree,
// which checks the leaf signatures in batches large enough for the bucket
// method, and ends in the same epoch as its committer.
func TestJoinBatchVerifyTree(t *testing.T) {
	groups, err := SynthesizeGroup(testSuite(t, groupSuite), 700, SynthOptions{Members: []LeafIndex{0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := groups[0]
	bobID, bobKP := newKeyPackage(t, groupSuite, "bob")
	pc, err := alice.Commit(CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	bob, err := Join(bobID, pc.Welcome, bobKP, &Config{BatchVerifyTree: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bob.Epoch() != alice.Epoch() || !bytes.Equal(bob.EpochAuthenticator(), alice.EpochAuthenticator()) {
		t.Fatal("joiner and committer disagree")
	}
}

// TestOutOfBandTreeSnapshot: PendingCommit.RatchetTree is the new epoch's
// tree without private keys, and later epochs do not change it.
func TestOutOfBandTreeSnapshot(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob")
	alice := tg.members["alice"]
	_, carol := newKeyPackage(t, groupSuite, "carol")
	pc, err := alice.Commit(CommitOptions{Add: []*KeyPackage{carol.KeyPackage}, RatchetTreeOutOfBand: true})
	if err != nil {
		t.Fatal(err)
	}
	if pc.RatchetTree == nil || pc.RatchetTree.priv != nil {
		t.Fatalf("out-of-band tree %v holds private keys or is missing", pc.RatchetTree)
	}
	wire, err := pc.RatchetTree.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pc.RatchetTree.TreeHash(), alice.gc.TreeHash) {
		t.Fatal("snapshot is not the new epoch's tree")
	}
	if _, err := alice.Commit(CommitOptions{Update: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	again, err := pc.RatchetTree.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(wire, again) || bytes.Equal(pc.RatchetTree.TreeHash(), alice.gc.TreeHash) {
		t.Fatal("a later epoch changed the snapshot")
	}
}

// BenchmarkSendProcess1KiB is mls bench's protect plus unprotect: a 1 KiB
// application message sent by one member and processed by another, in a
// 1,000-member group.
func BenchmarkSendProcess1KiB(b *testing.B) {
	groups, err := SynthesizeGroup(testSuite(b, groupSuite), 1000, SynthOptions{Members: []LeafIndex{0, 999}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	for b.Loop() {
		msg, err := groups[0].Send(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := groups[1].Process(msg); err != nil {
			b.Fatal(err)
		}
	}
}
