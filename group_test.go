package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// testGroup is a set of clients of one group, in memory, with a perfect
// Delivery Service.
type testGroup struct {
	t       testing.TB
	suite   ciphersuite.ID
	cfg     *Config
	members map[string]*Group
	order   []string
	// observer, when set, follows the group from outside: it processes
	// every PublicMessage broadcast (through a save and load) and must
	// agree with the members after every commit.
	observer *PublicGroup
}

// observe starts an observer of tg from a GroupInfo of its first member.
func (tg *testGroup) observe() {
	tg.t.Helper()
	gi, err := tg.members[tg.order[0]].GroupInfo(nil)
	if err != nil {
		tg.t.Fatal(err)
	}
	if tg.observer, err = NewPublicGroup(cloneMessage(tg.t, gi), tg.cfg, nil); err != nil {
		tg.t.Fatal(err)
	}
	tg.check()
}

func newTestGroup(t testing.TB, suite ciphersuite.ID, cfg *Config, creator string) *testGroup {
	t.Helper()
	id, err := NewBasicIdentity(suite, creator)
	if err != nil {
		t.Fatal(err)
	}
	g, err := CreateGroup(id, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testGroup{t: t, suite: suite, cfg: cfg, members: map[string]*Group{creator: g}, order: []string{creator}}
}

// newKeyPackage makes an identity and a KeyPackage for name.
func newKeyPackage(t testing.TB, suite ciphersuite.ID, name string) (*Identity, *KeyPackageBundle) {
	t.Helper()
	id, err := NewBasicIdentity(suite, name)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeyPackage(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id, kp
}

// broadcast delivers msg to every member but from, which must accept it.
func (tg *testGroup) broadcast(from string, msg *MLSMessage) []*Received {
	tg.t.Helper()
	var out []*Received
	// Through the wire form, as a real Delivery Service would.
	data, err := msg.MarshalBinary()
	if err != nil {
		tg.t.Fatal(err)
	}
	if tg.observer != nil && msg.PublicMessage != nil {
		state, err := tg.observer.MarshalBinary()
		if err != nil {
			tg.t.Fatal(err)
		}
		if tg.observer, err = LoadPublicGroup(state, tg.cfg); err != nil {
			tg.t.Fatal(err)
		}
		if _, err := tg.observer.Process(cloneMessage(tg.t, msg)); err != nil {
			tg.t.Fatalf("observer processing %s's message: %v", from, err)
		}
	}
	for _, name := range tg.order {
		if name == from {
			continue
		}
		var m MLSMessage
		if err := m.UnmarshalBinary(data); err != nil {
			tg.t.Fatal(err)
		}
		r, err := tg.members[name].Process(&m)
		if err != nil {
			tg.t.Fatalf("%s processing %s's message: %v", name, from, err)
		}
		out = append(out, r)
	}
	return out
}

// commit has from commit with opts, delivers the commit, merges it, and
// joins the new members by the Welcome.
func (tg *testGroup) commit(from string, opts CommitOptions, joiners map[string]*joiner) *EpochChange {
	tg.t.Helper()
	g := tg.members[from]
	pc, err := g.Commit(opts)
	if err != nil {
		tg.t.Fatalf("%s commit: %v", from, err)
	}
	tg.broadcast(from, pc.Commit)
	change, err := g.MergePendingCommit()
	if err != nil {
		tg.t.Fatal(err)
	}
	for _, m := range change.Removed {
		name := string(m.Credential.Identity)
		delete(tg.members, name)
		for i, n := range tg.order {
			if n == name {
				tg.order = append(tg.order[:i], tg.order[i+1:]...)
				break
			}
		}
	}
	if len(joiners) > 0 {
		if pc.Welcome == nil {
			tg.t.Fatal("no Welcome for the members added")
		}
		for name, j := range joiners {
			ng, err := Join(j.id, pc.Welcome, j.kp, tg.cfg, &JoinOptions{RatchetTree: pc.RatchetTree.Nodes()})
			if err != nil {
				tg.t.Fatalf("%s join: %v", name, err)
			}
			tg.members[name] = ng
			tg.order = append(tg.order, name)
		}
	}
	tg.check()
	return change
}

type joiner struct {
	id *Identity
	kp *KeyPackageBundle
}

// add commits the addition of names by from.
func (tg *testGroup) add(from string, names ...string) *EpochChange {
	tg.t.Helper()
	joiners := make(map[string]*joiner)
	var kps []*KeyPackage
	for _, n := range names {
		id, kp := newKeyPackage(tg.t, tg.suite, n)
		joiners[n] = &joiner{id, kp}
		kps = append(kps, kp.KeyPackage)
	}
	return tg.commit(from, CommitOptions{Add: kps}, joiners)
}

// leafOf returns the leaf of member name.
func (tg *testGroup) leafOf(name string) LeafIndex { return tg.members[name].OwnLeaf() }

// check asserts that all members agree on the epoch, its authenticator,
// an exported secret, the tree hash and the membership.
func (tg *testGroup) check() {
	tg.t.Helper()
	first := tg.members[tg.order[0]]
	want := first.EpochAuthenticator()
	wantExport, err := first.Export("test", []byte("ctx"), 32)
	if err != nil {
		tg.t.Fatal(err)
	}
	for _, name := range tg.order {
		g := tg.members[name]
		if g.Epoch() != first.Epoch() {
			tg.t.Fatalf("%s in epoch %d, %s in %d", name, g.Epoch(), tg.order[0], first.Epoch())
		}
		if !bytes.Equal(g.EpochAuthenticator(), want) {
			tg.t.Fatalf("epoch %d: %s has another epoch authenticator", g.Epoch(), name)
		}
		exp, err := g.Export("test", []byte("ctx"), 32)
		if err != nil || !bytes.Equal(exp, wantExport) {
			tg.t.Fatalf("epoch %d: %s exports another secret (%v)", g.Epoch(), name, err)
		}
		if !bytes.Equal(g.TreeHash(), first.TreeHash()) {
			tg.t.Fatalf("%s has another tree", name)
		}
		if len(g.Members()) != len(tg.order) {
			tg.t.Fatalf("%s sees %d members, want %d", name, len(g.Members()), len(tg.order))
		}
		if got := string(g.Members()[0].Credential.Identity); got == "" {
			tg.t.Fatal("member without identity")
		}
	}
	if o := tg.observer; o != nil {
		gc := o.GroupContext()
		got, err := gc.MarshalBinary()
		if err != nil {
			tg.t.Fatal(err)
		}
		if !bytes.Equal(got, first.gcBytes) || !bytes.Equal(o.ConfirmationTag(), first.confirmationTag) || !bytes.Equal(o.interim, first.interim) {
			tg.t.Fatalf("epoch %d: the observer's GroupContext, confirmation tag or interim transcript hash is not the members'", first.Epoch())
		}
		if len(o.Members()) != len(tg.order) {
			tg.t.Fatalf("the observer sees %d members, want %d", len(o.Members()), len(tg.order))
		}
		if first.Active() {
			gi, err := first.GroupInfo(nil)
			if err != nil {
				tg.t.Fatal(err)
			}
			if err := o.VerifyGroupInfo(gi); err != nil {
				tg.t.Fatalf("the observer refuses the epoch's GroupInfo: %v", err)
			}
		}
	}
}

// chat has every member send a message that every other member decrypts.
func (tg *testGroup) chat() {
	tg.t.Helper()
	for _, from := range tg.order {
		text := fmt.Sprintf("hello from %s in epoch %d", from, tg.members[from].Epoch())
		msg, err := tg.members[from].Send([]byte(text))
		if err != nil {
			tg.t.Fatal(err)
		}
		for _, r := range tg.broadcast(from, msg) {
			if r.Kind != KindApplication || string(r.Data) != text {
				tg.t.Fatalf("got %v %q, want %q", r.Kind, r.Data, text)
			}
			if r.Member == nil || string(r.Member.Credential.Identity) != from {
				tg.t.Fatalf("message attributed to %v, want %s", r.Member, from)
			}
		}
	}
}

func TestGroupEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		suite ciphersuite.ID
		cfg   *Config
	}{
		{ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, nil},
		{ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, &Config{PublicHandshake: true, PaddingBlock: -1}},
		{ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256, &Config{PublicHandshake: true}},
		{ciphersuite.MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448, nil},
	} {
		t.Run(fmt.Sprintf("%v/public=%v", tc.suite, tc.cfg != nil && tc.cfg.PublicHandshake), func(t *testing.T) {
			tg := newTestGroup(t, tc.suite, tc.cfg, "alice")
			tg.check()
			change := tg.add("alice", "bob", "carol")
			if len(change.Added) != 2 || change.Epoch != 1 {
				t.Fatalf("change %+v", change)
			}
			tg.chat()

			// Bob proposes an update; Alice commits it by reference.
			msg, err := tg.members["bob"].ProposeUpdate()
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range tg.broadcast("bob", msg) {
				if r.Kind != KindProposal || r.Proposal.Update == nil {
					t.Fatalf("got %v", r.Kind)
				}
			}
			change = tg.commit("alice", CommitOptions{}, nil)
			if len(change.Updated) != 1 || string(change.Updated[0].Credential.Identity) != "bob" {
				t.Fatalf("updated %+v", change.Updated)
			}
			tg.chat()

			// Carol adds four more, then Dave removes Bob and Carol.
			tg.add("carol", "dave", "erin", "frank", "grace")
			tg.chat()
			change = tg.commit("dave", CommitOptions{Remove: []LeafIndex{tg.leafOf("bob"), tg.leafOf("carol")}}, nil)
			if len(change.Removed) != 2 {
				t.Fatalf("removed %+v", change.Removed)
			}
			tg.chat()

			// A proposal by reference from one member, a path-less commit
			// of Adds by another, an empty commit by a third.
			id, kp := newKeyPackage(t, tc.suite, "heidi")
			msg, err = tg.members["erin"].ProposeAdd(kp.KeyPackage)
			if err != nil {
				t.Fatal(err)
			}
			tg.broadcast("erin", msg)
			tg.commit("frank", CommitOptions{RatchetTreeOutOfBand: true}, map[string]*joiner{"heidi": {id, kp}})
			tg.commit("heidi", CommitOptions{}, nil)
			tg.add("grace", "ivan", "judy", "mallory", "niaj")
			tg.chat()
			if n := len(tg.order); n != 10 {
				t.Fatalf("%d members, want 10", n)
			}
			change = tg.commit("mallory", CommitOptions{Update: true, Remove: []LeafIndex{tg.leafOf("alice")}}, nil)
			tg.chat()
			if change.Epoch != tg.members["dave"].Epoch() {
				t.Fatal("epoch mismatch")
			}
		})
	}
}

func TestGroupRemovedMember(t *testing.T) {
	suite := ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	tg := newTestGroup(t, suite, nil, "alice")
	tg.add("alice", "bob", "carol")
	bob := tg.members["bob"]
	pc, err := tg.members["alice"].Commit(CommitOptions{Remove: []LeafIndex{bob.OwnLeaf()}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := bob.Process(pc.Commit)
	if err != nil {
		t.Fatal(err)
	}
	if !r.NewEpoch.RemovedSelf || bob.Active() {
		t.Fatal("bob does not know he was removed")
	}
	if _, err := bob.Send([]byte("still here?")); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("removed member sends: %v", err)
	}
	if _, err := bob.Commit(CommitOptions{}); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("removed member commits: %v", err)
	}
}

func TestGroupEchoAndDiscard(t *testing.T) {
	suite := ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	tg := newTestGroup(t, suite, nil, "alice")
	tg.add("alice", "bob")
	alice, bob := tg.members["alice"], tg.members["bob"]

	// Alice's commit comes back to her: merged.
	pc, err := alice.Commit(CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Commit(CommitOptions{}); !errors.Is(err, ErrPendingCommit) {
		t.Fatalf("second commit while one is pending: %v", err)
	}
	r, err := alice.Process(pc.Commit)
	if err != nil || !r.Own || r.Kind != KindCommit {
		t.Fatalf("echo: %v, %+v", err, r)
	}
	if _, err := bob.Process(pc.Commit); err != nil {
		t.Fatal(err)
	}
	tg.check()

	// Both commit; Bob's wins: Alice's is discarded when she processes it.
	pa, err := alice.Commit(CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := bob.Commit(CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(pb.Commit); err != nil {
		t.Fatal(err)
	}
	if alice.HasPendingCommit() {
		t.Fatal("losing commit still pending")
	}
	if _, err := bob.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	tg.check()
	if _, err := bob.Process(pa.Commit); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("stale commit: %v", err)
	}
	if err := alice.DiscardPendingCommit(); !errors.Is(err, ErrNoPendingCommit) {
		t.Fatalf("discard without pending: %v", err)
	}
}

func TestGroupLateApplicationMessage(t *testing.T) {
	suite := ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	tg := newTestGroup(t, suite, &Config{MaxPastEpochs: 2}, "alice")
	tg.add("alice", "bob")
	alice, bob := tg.members["alice"], tg.members["bob"]
	late, err := bob.Send([]byte("late"))
	if err != nil {
		t.Fatal(err)
	}
	tg.commit("alice", CommitOptions{Update: true}, nil)
	r, err := alice.Process(late)
	if err != nil || string(r.Data) != "late" || r.Epoch != 1 {
		t.Fatalf("late message: %v", err)
	}
	if _, err := alice.Process(late); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("replayed message: %v", err)
	}
	tooLate, err := bob.Send([]byte("too late"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tg.commit("alice", CommitOptions{Update: true}, nil)
	}
	if _, err := alice.Process(tooLate); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("message beyond the window: %v", err)
	}
}

func TestSendNeedsCommittedProposals(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob")
	msg, err := tg.members["bob"].ProposeUpdate()
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", msg)
	for _, name := range tg.order {
		if _, err := tg.members[name].Send([]byte("x")); !errors.Is(err, ErrUncommittedProposals) {
			t.Fatalf("%s sends with a proposal pending: %v", name, err)
		}
	}
	// Alice drops the proposal (her policy): she may send again.
	alice := tg.members["alice"]
	if !alice.DiscardProposal(alice.PendingProposals()[0].Ref) {
		t.Fatal("proposal not discarded")
	}
	if _, err := alice.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

func TestOwnProposalEcho(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob")
	alice := tg.members["alice"]
	msg, err := alice.ProposeUpdate()
	if err != nil {
		t.Fatal(err)
	}
	r, err := alice.Process(cloneMessage(t, msg))
	if err != nil || !r.Own || r.Kind != KindProposal || r.Proposal.Update == nil {
		t.Fatalf("echo of own proposal: %v %+v", err, r)
	}
	if n := len(alice.PendingProposals()); n != 1 {
		t.Fatalf("%d proposals cached", n)
	}
	tg.broadcast("alice", msg)
	tg.commit("bob", CommitOptions{}, nil)
	app, err := alice.Send([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Process(app); !errors.Is(err, ErrOwnMessage) {
		t.Fatalf("own application message: %v", err)
	}
}
