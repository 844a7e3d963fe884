package mls

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// checkDraftRule checks that err is a *ValidationError of rule whose text
// cites the extensions draft.
func checkDraftRule(t *testing.T, err error, rule string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Rule != rule || !strings.Contains(err.Error(), "draft-ietf-mls-extensions") {
		t.Fatalf("got %v, want a violation of %s citing the draft", err, rule)
	}
}

// leave has name send a SelfRemove that every other member caches.
func (tg *testGroup) leave(name string) *MLSMessage {
	tg.t.Helper()
	msg, err := tg.members[name].Leave()
	if err != nil {
		tg.t.Fatalf("%s leave: %v", name, err)
	}
	if msg.WireFormat() != WireFormatPublicMessage {
		tg.t.Fatalf("SelfRemove sent as %v", msg.WireFormat())
	}
	for _, r := range tg.broadcast(name, msg) {
		if r.Kind != KindProposal || r.Proposal.SelfRemove == nil || r.Sender.LeafIndex != tg.leafOf(name) {
			tg.t.Fatalf("got %+v", r)
		}
	}
	return msg
}

// selfRemoveScenario: Bob leaves and Carol commits his SelfRemove without
// him; Bob's Process of the commit reports his removal and ends his
// group; the others go on.
func selfRemoveScenario(t *testing.T, suite ciphersuite.ID, cfg *Config) {
	tg := newTestGroup(t, suite, cfg, "alice")
	tg.add("alice", "bob", "carol")
	bob := tg.members["bob"]
	bobLeaf := bob.OwnLeaf()
	tg.leave("bob")

	pc, err := tg.members["carol"].Commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	commit := commitOf(t, tg.members["alice"], pc.Commit)
	if len(commit.Proposals) != 1 || commit.Proposals[0].Reference == nil || commit.Path == nil {
		t.Fatalf("commit %+v: want the SelfRemove by reference, with a path", commit)
	}
	r, err := bob.Process(cloneMessage(t, pc.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindCommit || !r.NewEpoch.RemovedSelf || len(r.NewEpoch.Removed) != 1 || r.NewEpoch.Removed[0].Leaf != bobLeaf {
		t.Fatalf("Bob got %+v", r.NewEpoch)
	}
	if bob.Active() {
		t.Fatal("Bob still active after his removal")
	}
	if _, err := bob.Send([]byte("still here?")); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("Bob sends after leaving: %v", err)
	}
	delete(tg.members, "bob")
	tg.order = []string{"alice", "carol"}
	for _, r := range tg.broadcast("carol", pc.Commit) {
		if r.NewEpoch.RemovedSelf || len(r.NewEpoch.Removed) != 1 || string(r.NewEpoch.Removed[0].Credential.Identity) != "bob" {
			t.Fatalf("got %+v", r.NewEpoch)
		}
	}
	if _, err := tg.members["carol"].MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tg.check()
	tg.chat()
}

// commitOf returns the Commit that msg carries, read by g.
func commitOf(t *testing.T, g *Group, msg *MLSMessage) *Commit {
	t.Helper()
	if msg.PublicMessage != nil {
		return msg.PublicMessage.Content.Commit
	}
	// A PrivateMessage: decrypt a copy with a copy of g's state.
	state, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadGroup(state, &g.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := c.unprotect(cloneMessage(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	return ac.Content.Commit
}

func TestSelfRemove(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		selfRemoveScenario(t, groupSuite, cfg)
	}
}

// TestSelfRemoveEverySuite runs the scenario in every suite of every
// profile, with both handshake wire formats.
func TestSelfRemoveEverySuite(t *testing.T) {
	t.Cleanup(func() {
		if err := ciphersuite.UseProfile(ciphersuite.ProfileDefault); err != nil {
			t.Fatal(err)
		}
	})
	seen := map[string]bool{}
	for _, profile := range ciphersuite.Profiles() {
		if err := ciphersuite.UseProfile(profile); err != nil {
			t.Fatal(err)
		}
		for _, info := range ciphersuite.Suites() {
			id := info.ID
			s, err := ciphersuite.Lookup(id)
			if err != nil {
				t.Fatal(err)
			}
			key := s.Name() + string(rune(id))
			if seen[key] {
				continue
			}
			seen[key] = true
			t.Run(profile+"/"+s.Name(), func(t *testing.T) {
				selfRemoveScenario(t, id, nil)
				selfRemoveScenario(t, id, &Config{PublicHandshake: true})
			})
		}
	}
}

// The leaver cannot commit its own SelfRemove: its commits leave it out,
// and a commit that includes it is invalid.
func TestSelfRemoveNotByLeaver(t *testing.T) {
	tg := newValidationGroup(t)
	tg.leave("bob")
	bob := tg.members["bob"]
	pc, err := bob.Commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := commitOf(t, bob, pc.Commit); len(c.Proposals) != 0 {
		t.Fatalf("Bob's commit carries %d proposals", len(c.Proposals))
	}
	if err := bob.DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}
	ref := bob.PendingProposals()[0].Ref
	msg := forgeCommit(t, bob, &Commit{Proposals: []ProposalOrRef{{Reference: ref}}})
	expectGroupRule(t, tg.members["alice"], msg, ruleRemoveCommitter)
}

func TestSelfRemoveRules(t *testing.T) {
	tg := newValidationGroup(t)
	alice, carol := tg.members["alice"], tg.members["carol"]
	bobLeaf := tg.leafOf("bob")
	tg.leave("bob")
	ref := selfRemoveRef(t, alice)

	// By value in a commit.
	msg := forgeCommit(t, carol, byValue(&Proposal{SelfRemove: &SelfRemoveProposal{}}))
	_, err := alice.Process(msg)
	checkDraftRule(t, err, ruleSelfRemoveByReference)

	// With a Remove of the same leaf.
	msg = forgeCommit(t, carol, &Commit{Proposals: []ProposalOrRef{{Reference: ref}, {Proposal: &Proposal{Remove: &RemoveProposal{Removed: bobLeaf}}}}})
	expectGroupRule(t, alice, msg, ruleSameLeafTwice)

	// Carol's own commit with a Remove of Bob by value leaves his
	// SelfRemove out; with a cached Remove of Bob, it keeps the SelfRemove
	// and leaves the Remove out.
	pc, err := carol.Commit(CommitOptions{Remove: []LeafIndex{bobLeaf}})
	if err != nil {
		t.Fatal(err)
	}
	if c := commitOf(t, carol, pc.Commit); len(c.Proposals) != 1 || c.Proposals[0].Proposal == nil {
		t.Fatalf("commit %+v", c)
	}
	carol.DiscardPendingCommit()
	if prop, err := tg.members["dave"].ProposeRemove(bobLeaf); err != nil {
		t.Fatal(err)
	} else {
		tg.broadcast("dave", prop)
	}
	pc, err = carol.Commit(CommitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := commitOf(t, carol, pc.Commit); len(c.Proposals) != 1 || !bytes.Equal(c.Proposals[0].Reference, ref) || pc.next.change.Removed[0].Leaf != bobLeaf {
		t.Fatalf("commit of %d proposals", len(c.Proposals))
	}
	carol.DiscardPendingCommit()

	// A second SelfRemove of the same member in the epoch.
	bob := tg.members["bob"]
	if _, err := bob.Leave(); err == nil {
		t.Fatal("second Leave in an epoch accepted")
	} else {
		checkDraftRule(t, err, ruleSelfRemoveOnce)
	}
	second := signProposal(t, bob, &Proposal{SelfRemove: &SelfRemoveProposal{}}, WireFormatPublicMessage, []byte("again"))
	_, err = alice.Process(second)
	checkDraftRule(t, err, ruleSelfRemoveOnce)

	// As a PrivateMessage.
	private := signProposal(t, carol, &Proposal{SelfRemove: &SelfRemoveProposal{}}, WireFormatPrivateMessage, nil)
	_, err = alice.Process(private)
	checkDraftRule(t, err, ruleSelfRemovePublic)

	// From an external sender.
	s, _ := ciphersuite.Lookup(groupSuite)
	extKey, _ := s.GenerateSigningKey()
	senders, _ := ExternalSenders{{SignatureKey: extKey.PublicKey(), Credential: NewBasicCredential([]byte("server"))}}.MarshalBinary()
	tg2 := newTestGroup(t, groupSuite, nil, "alice")
	g2 := tg2.members["alice"]
	g2.gc.Extensions = Extensions{{ExtensionType: ExtensionTypeExternalSenders, ExtensionData: senders}}
	if err := g2.checkProposal(&Proposal{SelfRemove: &SelfRemoveProposal{}}, Sender{SenderType: SenderTypeExternal}, false); err == nil {
		t.Fatal("SelfRemove from an external sender accepted")
	} else {
		checkRule(t, err, ruleProposalSender)
	}
}

// selfRemoveRef returns the reference of the SelfRemove cached in g.
func selfRemoveRef(t *testing.T, g *Group) []byte {
	t.Helper()
	for _, p := range g.PendingProposals() {
		if p.Proposal.SelfRemove != nil {
			return p.Ref
		}
	}
	t.Fatal("no SelfRemove cached")
	return nil
}

// signProposal has g sign and frame p in wire format wf, with aad, without
// caching it.
func signProposal(t *testing.T, g *Group, p *Proposal, wf WireFormat, aad []byte) *MLSMessage {
	t.Helper()
	content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: g.ownSender(), AuthenticatedData: aad, ContentType: ContentTypeProposal, Proposal: p}
	ac, err := g.pc.Sign(g.id.SigningKey, wf, content)
	if err != nil {
		t.Fatal(err)
	}
	m, err := g.protect(ac)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A group with a member that does not list SelfRemove is not
// self-remove-capable: no one may leave by SelfRemove.
func TestSelfRemoveNeedsCapability(t *testing.T) {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob")
	id, err := NewBasicIdentity(groupSuite, "carol")
	if err != nil {
		t.Fatal(err)
	}
	caps := DefaultCapabilities(groupSuite)
	caps.Proposals = nil
	kp, err := NewKeyPackage(id, &KeyPackageOptions{Capabilities: &caps})
	if err != nil {
		t.Fatal(err)
	}
	tg.commit("alice", CommitOptions{Add: []*KeyPackage{kp.KeyPackage}}, map[string]*joiner{"carol": {id, kp}})
	_, err = tg.members["bob"].Leave()
	checkRule(t, err, ruleUnsupportedProposal)
	msg := signProposal(t, tg.members["bob"], &Proposal{SelfRemove: &SelfRemoveProposal{}}, WireFormatPublicMessage, nil)
	_, err = tg.members["alice"].Process(msg)
	checkRule(t, err, ruleUnsupportedProposal)
}

// A client joining by external commit includes the pending SelfRemoves by
// reference; the leavers are removed.
func TestSelfRemoveExternalCommit(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		bob := tg.members["bob"]
		leave := tg.leave("bob")
		gi, err := tg.members["alice"].GroupInfo(nil)
		if err != nil {
			t.Fatal(err)
		}
		daveID, err := NewBasicIdentity(groupSuite, "dave")
		if err != nil {
			t.Fatal(err)
		}

		// A SelfRemove whose signature is wrong is refused by the joiner.
		bad := cloneMessage(t, leave)
		bad.PublicMessage.Auth.Signature[0] ^= 1
		if _, _, err := JoinExternal(gi, daveID, cfg, &ExternalJoinOptions{SelfRemoves: []*MLSMessage{bad}}); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("bad SelfRemove: %v", err)
		}

		dave, commit, err := JoinExternal(gi, daveID, cfg, &ExternalJoinOptions{SelfRemoves: []*MLSMessage{cloneMessage(t, leave)}})
		if err != nil {
			t.Fatal(err)
		}
		c := commit.PublicMessage.Content.Commit
		if len(c.Proposals) != 2 || c.Proposals[1].Reference == nil {
			t.Fatalf("external commit %+v", c)
		}
		r, err := bob.Process(cloneMessage(t, commit))
		if err != nil || !r.NewEpoch.RemovedSelf || bob.Active() {
			t.Fatalf("Bob: %+v, %v", r, err)
		}
		delete(tg.members, "bob")
		tg.order = []string{"alice", "carol"}
		for _, r := range tg.broadcast("dave", commit) {
			if len(r.NewEpoch.Removed) != 1 || string(r.NewEpoch.Removed[0].Credential.Identity) != "bob" || len(r.NewEpoch.Added) != 1 {
				t.Fatalf("got %+v", r.NewEpoch)
			}
		}
		tg.members["dave"] = dave
		tg.order = append(tg.order, "dave")
		tg.check()
		tg.chat()
	}
}

// Members refuse an external commit referring to a SelfRemove they do not
// have, or to another proposal.
func TestSelfRemoveExternalCommitUnknown(t *testing.T) {
	tg := newValidationGroup(t)
	leave, err := tg.members["bob"].Leave() // not delivered
	if err != nil {
		t.Fatal(err)
	}
	gi, err := tg.members["alice"].GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewBasicIdentity(groupSuite, "erin")
	if err != nil {
		t.Fatal(err)
	}
	_, commit, err := JoinExternal(gi, id, nil, &ExternalJoinOptions{SelfRemoves: []*MLSMessage{leave}})
	if err != nil {
		t.Fatal(err)
	}
	expectGroupRule(t, tg.members["alice"], commit, ruleExternalCommit)

	// A proposal by reference that is not a SelfRemove.
	prop, err := tg.members["carol"].ProposeRemove(tg.leafOf("dave"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.members["alice"].Process(prop); err != nil {
		t.Fatal(err)
	}
	g := tg.members["alice"]
	ref := g.PendingProposals()[0].Ref
	fake := cloneMessage(t, commit)
	fake.PublicMessage.Content.Commit.Proposals[1] = ProposalOrRef{Reference: ref}
	expectGroupRule(t, g, fake, ruleExternalCommit)
}

// A SelfRemove is its type and an empty body (struct {} SelfRemove).
func TestSelfRemoveEncoding(t *testing.T) {
	p := &Proposal{SelfRemove: &SelfRemoveProposal{}}
	enc, err := p.MarshalBinary()
	if err != nil || !bytes.Equal(enc, []byte{0x00, 0x0a}) {
		t.Fatalf("encoding %x, %v", enc, err)
	}
	var q Proposal
	if err := q.UnmarshalBinary(enc); err != nil || q.Type() != ProposalTypeSelfRemove || q.SelfRemove == nil {
		t.Fatalf("decoded %+v, %v", q, err)
	}
	if err := q.UnmarshalBinary([]byte{0x00, 0x0a, 0x00}); err == nil {
		t.Fatal("SelfRemove with a body accepted")
	}
	if (&Proposal{Unknown: &UnknownProposal{ProposalType: ProposalTypeSelfRemove}}).Type() != 0 {
		t.Fatal("an UnknownProposal may not claim the SelfRemove type")
	}
	if ProposalTypeSelfRemove.String() != "self_remove" {
		t.Fatal(ProposalTypeSelfRemove.String())
	}
}
