package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// joinExternal has name join tg by external commit from a GroupInfo of
// member from, and delivers the commit.
func (tg *testGroup) joinExternal(from, name string, id *Identity, opts *ExternalJoinOptions) *Group {
	tg.t.Helper()
	gi, err := tg.members[from].GroupInfo(nil)
	if err != nil {
		tg.t.Fatal(err)
	}
	if id == nil {
		if id, err = NewBasicIdentity(tg.suite, name); err != nil {
			tg.t.Fatal(err)
		}
	}
	g, commit, err := JoinExternal(gi, id, tg.cfg, opts)
	if err != nil {
		tg.t.Fatalf("%s external join: %v", name, err)
	}
	rs := tg.broadcast(name, commit)
	for _, r := range rs {
		if r.Kind != KindCommit || r.NewEpoch.Committer.SenderType != SenderTypeNewMemberCommit {
			tg.t.Fatalf("got %+v", r)
		}
	}
	return g
}

func TestExternalCommit(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob")
		dave := tg.joinExternal("bob", "dave", nil, nil)
		tg.members["dave"] = dave
		tg.order = append(tg.order, "dave")
		tg.check()
		tg.chat()

		// Dave lost his state: he resyncs, replacing his old leaf.
		daveID := dave.Identity()
		id2 := &Identity{Credential: daveID.Credential, SigningKey: mustKey(t)}
		before := len(tg.members["alice"].Members())
		g2 := tg.joinExternal("alice", "dave2", id2, &ExternalJoinOptions{Resync: true})
		delete(tg.members, "dave")
		tg.order = tg.order[:len(tg.order)-1]
		tg.members["dave"] = g2
		tg.order = append(tg.order, "dave")
		tg.check()
		if n := len(g2.Members()); n != before {
			t.Fatalf("%d members after resync, want %d", n, before)
		}
		tg.chat()
		tg.add("dave", "erin")
		tg.chat()
	}
}

const groupSuite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

func mustKey(t *testing.T) *ciphersuite.SigningKey {
	s, _ := ciphersuite.Lookup(groupSuite)
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestExternalCommitNeedsExternalPub(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	gi, err := tg.members["alice"].GroupInfo(&GroupInfoOptions{NoExternalPub: true})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := NewBasicIdentity(groupSuite, "eve")
	if _, _, err := JoinExternal(gi, id, nil, nil); err == nil {
		t.Fatal("external join without external_pub")
	}
	// A tampered GroupInfo signature is rejected.
	gi, _ = tg.members["alice"].GroupInfo(nil)
	data, _ := gi.MarshalBinary()
	data[len(data)-1] ^= 1
	var bad MLSMessage
	if err := bad.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := JoinExternal(&bad, id, nil, nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered GroupInfo: %v", err)
	}
}

func TestNewMemberAndExternalSenderProposals(t *testing.T) {
	s, _ := ciphersuite.Lookup(groupSuite)
	extKey, _ := s.GenerateSigningKey()
	senders, _ := ExternalSenders{{SignatureKey: extKey.PublicKey(), Credential: NewBasicCredential([]byte("server"))}}.MarshalBinary()
	id, _ := NewBasicIdentity(groupSuite, "alice")
	alice, err := CreateGroup(id, nil, &CreateOptions{Extensions: Extensions{{ExtensionType: ExtensionTypeExternalSenders, ExtensionData: senders}}})
	if err != nil {
		t.Fatal(err)
	}
	tg := &testGroup{t: t, suite: groupSuite, members: map[string]*Group{"alice": alice}, order: []string{"alice"}}
	tg.add("alice", "bob")

	// Carol asks to join; Bob commits her proposal.
	carolID, carolKP := newKeyPackage(t, groupSuite, "carol")
	gi, _ := alice.GroupInfo(nil)
	msg, err := NewMemberProposal(gi, carolID, carolKP.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tg.broadcast("", msg) {
		if r.Kind != KindProposal || r.Sender.SenderType != SenderTypeNewMemberProposal {
			t.Fatalf("got %+v", r)
		}
	}
	tg.commit("bob", CommitOptions{}, map[string]*joiner{"carol": {carolID, carolKP}})

	// The server removes Bob.
	msg, err = NewExternalProposal(alice.GroupID(), alice.Epoch(), 0, extKey, &Proposal{Remove: &RemoveProposal{Removed: tg.leafOf("bob")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("", msg)
	change := tg.commit("carol", CommitOptions{}, nil)
	if len(change.Removed) != 1 || string(change.Removed[0].Credential.Identity) != "bob" {
		t.Fatalf("removed %+v", change.Removed)
	}

	// An external sender may not propose an Update, nor use an unknown
	// index.
	msg, _ = NewExternalProposal(alice.GroupID(), alice.Epoch(), 0, extKey, &Proposal{Update: &UpdateProposal{LeafNode: *alice.tree.Leaf(0)}}, nil)
	expectGroupRule(t, alice, msg, ruleProposalSender)
	msg, _ = NewExternalProposal(alice.GroupID(), alice.Epoch(), 1, extKey, &Proposal{Remove: &RemoveProposal{Removed: 1}}, nil)
	if _, err := alice.Process(msg); err == nil {
		t.Fatal("unknown external sender accepted")
	}
}

func TestPSKs(t *testing.T) {
	psk := bytes.Repeat([]byte{7}, 32)
	store := func(id *PreSharedKeyID) ([]byte, error) {
		if id.PSKType == PSKTypeExternal && string(id.PSKID) == "shared" {
			return psk, nil
		}
		return nil, errors.New("unknown")
	}
	cfg := &Config{PSKs: store}
	tg := newTestGroup(t, groupSuite, cfg, "alice")
	tg.add("alice", "bob")
	ext := PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("shared")}
	res := func(epoch uint64) PreSharedKeyID {
		return PreSharedKeyID{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageApplication, PSKGroupID: tg.members["alice"].GroupID(), PSKEpoch: epoch}
	}

	// By value, with an Add: the joiner needs the PSK too.
	id, kp := newKeyPackage(t, groupSuite, "carol")
	change := tg.commit("alice", CommitOptions{PSKs: []PreSharedKeyID{ext}, Add: []*KeyPackage{kp.KeyPackage}}, map[string]*joiner{"carol": {id, kp}})
	if len(change.PSKs) != 1 {
		t.Fatalf("PSKs %+v", change.PSKs)
	}
	// By reference: a resumption PSK of the current epoch.
	msg, err := tg.members["bob"].ProposePSK(res(2))
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", msg)
	tg.commit("alice", CommitOptions{}, nil)
	// A resumption PSK of an epoch before Carol joined: she cannot commit.
	msg, err = tg.members["bob"].ProposePSK(res(1))
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", msg)
	if _, err := tg.members["carol"].Commit(CommitOptions{}); err == nil {
		t.Fatal("carol committed a resumption PSK of an epoch before she joined")
	}

	// Without the PSK, the commit cannot be processed.
	other := newTestGroup(t, groupSuite, nil, "alice")
	other.add("alice", "bob")
	pc, err := other.members["alice"].Commit(CommitOptions{PSKs: []PreSharedKeyID{ext}})
	if err == nil {
		t.Fatalf("commit with an unknown PSK: %v", pc)
	}
}

func TestReInit(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	newSuite := ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
	msg, err := tg.members["bob"].ProposeReInit(nil, newSuite, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", msg)
	change := tg.commit("alice", CommitOptions{}, nil)
	if change.ReInit == nil {
		t.Fatal("no ReInit in the epoch change")
	}
	for _, name := range tg.order {
		g := tg.members[name]
		if g.Active() || g.PendingReInit() == nil {
			t.Fatalf("%s still active", name)
		}
		if _, err := g.Send([]byte("x")); !errors.Is(err, ErrGroupInactive) {
			t.Fatalf("%s sends after ReInit: %v", name, err)
		}
	}
	// Carol recreates the group in the new suite with new KeyPackages.
	joiners := map[string]*joiner{}
	var kps []*KeyPackage
	for _, name := range []string{"alice", "bob"} {
		id := &Identity{Credential: NewBasicCredential([]byte(name))}
		s, _ := ciphersuite.Lookup(newSuite)
		id.SigningKey, _ = s.GenerateSigningKey()
		kp, err := NewKeyPackage(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		joiners[name] = &joiner{id, kp}
		kps = append(kps, kp.KeyPackage)
	}
	carolNew, _ := NewIdentity(newSuite, NewBasicCredential([]byte("carol")))
	ng, pc, err := tg.members["carol"].ReInit(kps, &ResumeOptions{Identity: carolNew})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if ng.Epoch() != 1 || ng.CipherSuite() != newSuite {
		t.Fatalf("new group in epoch %d of %v", ng.Epoch(), ng.CipherSuite())
	}
	for name, j := range joiners {
		// Without the old group the Welcome is refused.
		if _, err := Join(j.id, pc.Welcome, j.kp, nil, nil); err == nil {
			t.Fatal("reinit Welcome joined without the previous group")
		}
		g, err := Join(j.id, pc.Welcome, j.kp, nil, &JoinOptions{PreviousGroup: tg.members[name]})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(g.EpochAuthenticator(), ng.EpochAuthenticator()) {
			t.Fatal("epoch authenticators differ")
		}
	}
}

func TestBranch(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	id, kp := newKeyPackage(t, groupSuite, "bob")
	sub, pc, err := tg.members["alice"].Branch([]*KeyPackage{kp.KeyPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	bobSub, err := Join(id, pc.Welcome, kp, nil, &JoinOptions{PreviousGroup: tg.members["bob"]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bobSub.EpochAuthenticator(), sub.EpochAuthenticator()) {
		t.Fatal("epoch authenticators differ")
	}
	// A branch with an outsider is refused by the members.
	outID, outKP := newKeyPackage(t, groupSuite, "mallory")
	id2, kp2 := newKeyPackage(t, groupSuite, "carol")
	_, pc, err = tg.members["alice"].Branch([]*KeyPackage{outKP.KeyPackage, kp2.KeyPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Join(id2, pc.Welcome, kp2, nil, &JoinOptions{PreviousGroup: tg.members["carol"]}); err == nil {
		t.Fatal("joined a branch with a non-member")
	}
	_ = outID
}

func TestCustomProposalAndRequiredCapabilities(t *testing.T) {
	const custom = ProposalType(0xF0A0)
	const customExt = ExtensionType(0xF0A1)
	caps := DefaultCapabilities(groupSuite)
	caps.Proposals = []ProposalType{custom}
	caps.Extensions = []ExtensionType{customExt}
	kpOpts := &KeyPackageOptions{Capabilities: &caps}
	aliceID, _ := NewBasicIdentity(groupSuite, "alice")
	rc, _ := (&RequiredCapabilities{ProposalTypes: []ProposalType{custom}}).MarshalBinary()
	appID, _ := ApplicationID("device-1").MarshalBinary()
	alice, err := CreateGroup(aliceID, nil, &CreateOptions{
		Extensions: Extensions{{ExtensionType: ExtensionTypeRequiredCapabilities, ExtensionData: rc}},
		Leaf:       &KeyPackageOptions{Capabilities: &caps, LeafExtensions: Extensions{{ExtensionType: ExtensionTypeApplicationID, ExtensionData: appID}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := alice.Members()[0].LeafNode.Extensions.Find(ExtensionTypeApplicationID); !ok {
		t.Fatal("application_id lost")
	}
	tg := &testGroup{t: t, suite: groupSuite, members: map[string]*Group{"alice": alice}, order: []string{"alice"}}

	// A KeyPackage without the required proposal type cannot be added.
	_, plain := newKeyPackage(t, groupSuite, "plain")
	if _, err := alice.Commit(CommitOptions{Add: []*KeyPackage{plain.KeyPackage}}); !errors.Is(err, ErrCapabilities) {
		t.Fatalf("add without required capability: %v", err)
	}
	bobID, _ := NewBasicIdentity(groupSuite, "bob")
	bobKP, _ := NewKeyPackage(bobID, kpOpts)
	tg.commit("alice", CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage}}, map[string]*joiner{"bob": {bobID, bobKP}})

	// The custom proposal travels opaque and is committed.
	msg, err := tg.members["bob"].Propose(&Proposal{Unknown: &UnknownProposal{ProposalType: custom, Data: []byte("opaque")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tg.broadcast("bob", msg) {
		if r.Proposal.Unknown == nil || string(r.Proposal.Unknown.Data) != "opaque" {
			t.Fatalf("got %+v", r.Proposal)
		}
	}
	tg.commit("alice", CommitOptions{}, nil)

	// A GroupContext extension every member supports is accepted.
	tg.commit("bob", CommitOptions{GroupContextExtensions: Extensions{
		{ExtensionType: ExtensionTypeRequiredCapabilities, ExtensionData: rc},
		{ExtensionType: customExt, ExtensionData: []byte{1}},
	}}, nil)
	if _, ok := tg.members["alice"].Extensions().Find(customExt); !ok {
		t.Fatal("extension not applied")
	}
}
