package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// renewed returns a new identity for name in suite: a fresh signature key
// and a basic credential of identity.
func renewed(t *testing.T, suite ciphersuite.ID, identity string) *Identity {
	t.Helper()
	id, err := NewBasicIdentity(suite, identity)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// checkRotated checks that every member sees name's leaf with id's key and
// credential, that name signs with it, and that a message name signs with
// old's key is refused.
func (tg *testGroup) checkRotated(name string, id, old *Identity) {
	tg.t.Helper()
	t := tg.t
	g := tg.members[name]
	if g.Identity() != id {
		t.Fatalf("%s signs with the old identity", name)
	}
	for _, other := range tg.order {
		m, ok := tg.members[other].Member(g.OwnLeaf())
		if !ok || !bytes.Equal(m.SignatureKey, id.SigningKey.PublicKey()) || !bytes.Equal(m.Credential.Identity, id.Credential.Identity) {
			t.Fatalf("%s sees %s's leaf %+v", other, name, m)
		}
	}
	tg.chat()
	// A message signed with the old key, in the new epoch: refused as
	// application data (PrivateMessage) and as a proposal (PublicMessage).
	for _, wf := range []WireFormat{WireFormatPrivateMessage, WireFormatPublicMessage} {
		content := &FramedContent{GroupID: g.gc.GroupID, Epoch: g.gc.Epoch, Sender: g.ownSender(), ContentType: ContentTypeApplication, ApplicationData: []byte("old key")}
		if wf == WireFormatPublicMessage {
			content.ContentType, content.ApplicationData = ContentTypeProposal, nil
			content.Proposal = &Proposal{Remove: &RemoveProposal{Removed: tg.members[tg.order[0]].OwnLeaf()}}
		}
		ac, err := g.pc.Sign(old.SigningKey, wf, content)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := g.protect(ac)
		if err != nil {
			t.Fatal(err)
		}
		for _, other := range tg.order {
			if other == name {
				continue
			}
			if _, err := tg.members[other].Process(cloneMessage(t, msg)); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("%s accepted (%v) a %v signed with %s's old key", other, err, wf, name)
			}
		}
	}
}

func TestRotateByUpdate(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		bob := tg.members["bob"]
		old := bob.Identity()
		id := renewed(t, groupSuite, "bob")
		msg, err := bob.ProposeUpdateIdentity(id)
		if err != nil {
			t.Fatal(err)
		}
		tg.broadcast("bob", msg)
		// Until a commit applies the Update, Bob signs with his old key.
		if bob.Identity() != old {
			t.Fatal("identity changed before the commit")
		}
		change := tg.commit("alice", CommitOptions{}, nil)
		if len(change.Updated) != 1 || change.Updated[0].Leaf != bob.OwnLeaf() {
			t.Fatalf("change %+v", change)
		}
		tg.checkRotated("bob", id, old)
	}
}

func TestRotateInCommit(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		bob := tg.members["bob"]
		old := bob.Identity()
		id := renewed(t, groupSuite, "bob")
		// The commit adds Dave too: the Welcome's GroupInfo is signed with
		// Bob's new key, which Dave checks against the new tree.
		daveID, daveKP := newKeyPackage(t, groupSuite, "dave")
		tg.commit("bob", CommitOptions{NewIdentity: id, Add: []*KeyPackage{daveKP.KeyPackage}, GroupInfo: true}, map[string]*joiner{"dave": {daveID, daveKP}})
		tg.checkRotated("bob", id, old)
		// A GroupInfo of Bob's verifies with his new key: Erin joins by it.
		tg.members["erin"] = tg.joinExternal("bob", "erin", nil, nil)
		tg.order = append(tg.order, "erin")
		tg.check()
	}
}

// A commit of Bob's, with his Update carrying a new identity cached, puts
// that identity in the path.
func TestRotateCachedUpdateInOwnCommit(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob")
	bob := tg.members["bob"]
	old := bob.Identity()
	id := renewed(t, groupSuite, "bob")
	msg, err := bob.ProposeUpdateIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", msg)
	tg.commit("bob", CommitOptions{}, nil)
	tg.checkRotated("bob", id, old)
}

// The credential validator is asked about the new credential: by the
// member rotating, and by every member receiving the rotation.
func TestRotateCredentialValidator(t *testing.T) {
	refuse := CredentialValidatorFunc(func(ctx CredentialContext, c Credential, _ []byte) error {
		if string(c.Identity) == "mallory" {
			if ctx.Event != CredentialEventUpdate || ctx.Previous == nil || string(ctx.Previous.Identity) != "bob" {
				t.Errorf("validator asked %+v", ctx)
			}
			return errors.New("no mallory here")
		}
		return nil
	})
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob")
	alice, bob := tg.members["alice"], tg.members["bob"]
	mallory := renewed(t, groupSuite, "mallory")

	bob.cfg.CredentialValidator = refuse
	if _, err := bob.ProposeUpdateIdentity(mallory); !errors.Is(err, ErrCredential) {
		t.Fatalf("own Update to a refused credential: %v", err)
	}
	if _, err := bob.Commit(CommitOptions{NewIdentity: mallory}); !errors.Is(err, ErrCredential) {
		t.Fatalf("own commit to a refused credential: %v", err)
	}
	if bob.HasPendingCommit() || len(bob.PendingProposals()) != 0 {
		t.Fatal("a refused rotation left state behind")
	}

	// Bob's validator accepts; Alice's refuses.
	bob.cfg.CredentialValidator = AcceptAllCredentials
	alice.cfg.CredentialValidator = refuse
	msg, err := bob.ProposeUpdateIdentity(mallory)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(msg); !errors.Is(err, ErrCredential) {
		t.Fatalf("Alice accepted the Update: %v", err)
	}
	pc, err := bob.Commit(CommitOptions{NewIdentity: mallory})
	if err != nil {
		t.Fatal(err)
	}
	epoch := alice.Epoch()
	if _, err := alice.Process(pc.Commit); !errors.Is(err, ErrCredential) || alice.Epoch() != epoch {
		t.Fatalf("Alice accepted the commit: %v", err)
	}

	// An identity of another suite is refused.
	other, err := NewBasicIdentity(ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, "bob")
	if err != nil {
		t.Fatal(err)
	}
	bob.DiscardPendingCommit()
	if _, err := bob.Commit(CommitOptions{NewIdentity: other}); err == nil {
		t.Fatal("new identity of another suite accepted")
	}
	if _, err := bob.ProposeUpdateIdentity(nil); err == nil {
		t.Fatal("nil identity accepted")
	}
}

// A rotation pending in a cached Update or in a pending commit survives a
// save and load.
func TestRotateSaved(t *testing.T) {
	reload := func(t *testing.T, g *Group) *Group {
		t.Helper()
		state, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		r, err := LoadGroup(state, &g.cfg)
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(again, state) {
			t.Fatalf("state does not round-trip: %v", err)
		}
		return r
	}
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")

	// Bob's Update, saved before Alice commits it.
	old := tg.members["bob"].Identity()
	id := renewed(t, groupSuite, "bob")
	msg, err := tg.members["bob"].ProposeUpdateIdentity(id)
	if err != nil {
		t.Fatal(err)
	}
	tg.members["bob"] = reload(t, tg.members["bob"])
	tg.broadcast("bob", msg)
	tg.commit("alice", CommitOptions{}, nil)
	if !bytes.Equal(tg.members["bob"].Identity().SigningKey.PublicKey(), id.SigningKey.PublicKey()) {
		t.Fatal("the loaded group lost the new identity")
	}
	tg.checkRotated("bob", tg.members["bob"].Identity(), old)

	// Carol's commit, saved before it is merged.
	carol := tg.members["carol"]
	old = carol.Identity()
	id = renewed(t, groupSuite, "carol")
	pc, err := carol.Commit(CommitOptions{NewIdentity: id})
	if err != nil {
		t.Fatal(err)
	}
	carol = reload(t, carol)
	tg.members["carol"] = carol
	tg.broadcast("carol", pc.Commit)
	if _, err := carol.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(carol.Identity().SigningKey.PublicKey(), id.SigningKey.PublicKey()) {
		t.Fatal("the loaded pending commit lost the new identity")
	}
	tg.check()
	tg.checkRotated("carol", carol.Identity(), old)

	// A state whose pending identity does not match its leaf is refused.
	state, err := carol.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroup(append(state, 1, 0), nil); err == nil {
		t.Fatal("a stray rotation trailer accepted")
	}
}
