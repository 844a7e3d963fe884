package mls

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls/ciphersuite"
)

const stateSuite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519

// marshalState returns g's state, failing the test on error.
func marshalState(t testing.TB, g *Group) []byte {
	t.Helper()
	data, err := g.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// reload restores g from its state with cfg, checks that the restored
// group writes the same state, and returns it.
func reload(t testing.TB, g *Group, cfg *Config) *Group {
	t.Helper()
	data := marshalState(t, g)
	ng, err := LoadGroup(data, cfg)
	if err != nil {
		t.Fatalf("LoadGroup: %v", err)
	}
	if again := marshalState(t, ng); !bytes.Equal(again, data) {
		t.Fatalf("state changed in a round trip: %d bytes, then %d", len(data), len(again))
	}
	return ng
}

// send has member from of tg encrypt text, returning the message as it
// travels.
func (tg *testGroup) send(from, text string) []byte {
	tg.t.Helper()
	m, err := tg.members[from].Send([]byte(text))
	if err != nil {
		tg.t.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		tg.t.Fatal(err)
	}
	return data
}

// receive has member name process the message data.
func (tg *testGroup) receive(name string, data []byte) (*Received, error) {
	var m MLSMessage
	if err := m.UnmarshalBinary(data); err != nil {
		tg.t.Fatal(err)
	}
	return tg.members[name].Process(&m)
}

// expectText has member name process data, which must be text.
func (tg *testGroup) expectText(name string, data []byte, text string) {
	tg.t.Helper()
	r, err := tg.receive(name, data)
	if err != nil {
		tg.t.Fatalf("%s: %v", name, err)
	}
	if r.Kind != KindApplication || string(r.Data) != text {
		tg.t.Fatalf("%s got %v %q, want %q", name, r.Kind, r.Data, text)
	}
}

// TestGroupStateMidConversation restores a member in the middle of a
// conversation, with messages it has not read yet in the current and a
// past epoch, and checks that it carries on as if it never stopped.
func TestGroupStateMidConversation(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true, SecretTree: SecretTreeConfig{MaxSkippedKeys: 4}}} {
		tg := newTestGroup(t, stateSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		tg.add("bob", "dave")
		tg.commit("carol", CommitOptions{Update: true}, nil)
		tg.chat()

		// Epoch e: bob sends three messages; carol reads only the last.
		late1 := tg.send("bob", "late 1")
		late2 := tg.send("bob", "late 2")
		read := tg.send("bob", "read")
		tg.expectText("carol", read, "read")
		for _, name := range []string{"alice", "dave"} {
			tg.expectText(name, late1, "late 1")
		}
		tg.commit("dave", CommitOptions{Update: true}, nil)
		// Epoch e+1: dave sends two; carol reads the second.
		cur1 := tg.send("dave", "current 1")
		cur2 := tg.send("dave", "current 2")
		tg.expectText("carol", cur2, "current 2")
		// A proposal waits in carol's cache for the next commit.
		prop, err := tg.members["bob"].ProposeRemove(tg.leafOf("alice"))
		if err != nil {
			t.Fatal(err)
		}
		tg.broadcast("bob", prop)

		carol := reload(t, tg.members["carol"], cfg)
		tg.members["carol"] = carol

		tg.expectText("carol", late2, "late 2")
		tg.expectText("carol", late1, "late 1")
		tg.expectText("carol", cur1, "current 1")
		for _, replay := range [][]byte{read, cur2, late1, cur1} {
			if _, err := tg.receive("carol", replay); !errors.Is(err, ErrGenerationReused) {
				t.Fatalf("replay after restore: %v, want ErrGenerationReused", err)
			}
		}
		if got := len(carol.PendingProposals()); got != 1 {
			t.Fatalf("%d cached proposals after restore, want 1", got)
		}
		// carol commits (with bob's Remove by reference) and processes
		// commits of others; tg.commit checks that everyone agrees.
		change := tg.commit("carol", CommitOptions{Update: true}, nil)
		if len(change.Removed) != 1 || string(change.Removed[0].Credential.Identity) != "alice" {
			t.Fatalf("carol's commit removed %v", change.Removed)
		}
		tg.commit("bob", CommitOptions{Update: true}, nil)
		tg.members["carol"] = reload(t, tg.members["carol"], cfg)
		tg.add("dave", "erin")
		tg.chat()
	}
}

// TestGroupStatePendingCommit restores a client between creating a commit
// and seeing it accepted.
func TestGroupStatePendingCommit(t *testing.T) {
	for _, merge := range []bool{false, true} {
		tg := newTestGroup(t, stateSuite, nil, "alice")
		tg.add("alice", "bob")
		id, kp := newKeyPackage(t, stateSuite, "carol")
		pc, err := tg.members["bob"].Commit(CommitOptions{Add: []*KeyPackage{kp.KeyPackage}, Update: true, RatchetTreeOutOfBand: true, GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		bob := reload(t, tg.members["bob"], nil)
		tg.members["bob"] = bob
		if !bob.HasPendingCommit() {
			t.Fatal("pending commit lost")
		}
		if !bytes.Equal(mustMarshal(t, bob.pending.Welcome), mustMarshal(t, pc.Welcome)) {
			t.Fatal("Welcome changed in a round trip")
		}
		if bob.pending.RatchetTree == nil || bob.pending.GroupInfo == nil {
			t.Fatal("out-of-band tree or GroupInfo lost")
		}
		tg.broadcast("bob", pc.Commit)
		var change *EpochChange
		if merge {
			change, err = bob.MergePendingCommit()
		} else {
			var r *Received
			r, err = tg.receive("bob", mustMarshal(t, pc.Commit))
			if err == nil && !r.Own {
				t.Fatal("echo of the own commit not recognized")
			}
			if r != nil {
				change = r.NewEpoch
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(change.Added) != 1 || string(change.Added[0].Credential.Identity) != "carol" || change.Epoch != bob.Epoch() {
			t.Fatalf("change after restore: %+v", change)
		}
		carol, err := Join(id, pc.Welcome, kp, nil, &JoinOptions{RatchetTree: pc.RatchetTree.Nodes()})
		if err != nil {
			t.Fatal(err)
		}
		tg.members["carol"] = carol
		tg.order = append(tg.order, "carol")
		tg.check()
		tg.chat()
	}
}

// TestGroupStateDeletedStayDeleted checks that secrets the deletion
// schedule erased are neither in the state nor back after a restore.
func TestGroupStateDeletedStayDeleted(t *testing.T) {
	cfg := &Config{MaxPastEpochs: 1}
	tg := newTestGroup(t, stateSuite, cfg, "alice")
	tg.add("alice", "bob")
	alice := tg.members["alice"]
	self := alice.OwnLeaf()

	// The ratchet secret of a generation alice sent, and the key of a
	// generation bob skipped and kept until its message arrived.
	one, two := tg.send("alice", "one"), tg.send("alice", "two")
	usedSecret := bytes.Clone(alice.pc.tree.leafSecrets[self].application.secret)
	three := tg.send("alice", "three") // consumes usedSecret; bob never reads it
	if bytes.Contains(marshalState(t, alice), usedSecret) {
		t.Fatal("the state holds a used ratchet secret")
	}
	bob := tg.members["bob"]
	tg.expectText("bob", two, "two")
	skippedKey := bytes.Clone(bob.pc.tree.leafSecrets[self].application.skipped[0].key)
	if !bytes.Contains(marshalState(t, bob), skippedKey) {
		t.Fatal("a skipped key is not in the state")
	}
	tg.expectText("bob", one, "one")
	if bytes.Contains(marshalState(t, bob), skippedKey) {
		t.Fatal("the state holds a consumed key")
	}

	// The init_secret of an epoch that ended, and a past epoch beyond the
	// window.
	oldInit := bytes.Clone(alice.secrets.InitSecret())
	tg.commit("bob", CommitOptions{Update: true}, nil)
	tg.commit("bob", CommitOptions{Update: true}, nil)

	alice = reload(t, tg.members["alice"], cfg)
	tg.members["alice"] = alice
	data := marshalState(t, alice)
	if bytes.Contains(data, oldInit) {
		t.Fatal("the state holds the init_secret of a past epoch")
	}
	s := alice.secrets
	if s.JoinerSecret() != nil || s.WelcomeSecret() != nil || s.EncryptionSecret() != nil {
		t.Fatal("an erased epoch secret came back")
	}
	if len(alice.past) != 1 {
		t.Fatalf("%d past epochs kept, want 1", len(alice.past))
	}
	// The epoch of three left bob's window: its keys are gone for good.
	tg.members["bob"] = reload(t, tg.members["bob"], cfg)
	if _, err := tg.receive("bob", three); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("message of a dropped epoch: %v, want ErrWrongEpoch", err)
	}
	// Loading with a smaller window drops the past epoch as the group
	// would have.
	ng, err := LoadGroup(data, &Config{MaxPastEpochs: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ng.past) != 0 {
		t.Fatal("past epoch kept beyond the window given at load")
	}
}

// TestGroupStateSkippedKeysWindow checks that a smaller out-of-order
// window given at load drops the oldest skipped keys.
func TestGroupStateSkippedKeysWindow(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	var msgs [][]byte
	for range 5 {
		msgs = append(msgs, tg.send("alice", "m"))
	}
	tg.expectText("bob", msgs[4], "m")
	data := marshalState(t, tg.members["bob"])
	bob, err := LoadGroup(data, &Config{SecretTree: SecretTreeConfig{MaxSkippedKeys: 2}})
	if err != nil {
		t.Fatal(err)
	}
	tg.members["bob"] = bob
	for i, want := range []error{ErrGenerationExpired, ErrGenerationExpired, nil, nil} {
		if _, err := tg.receive("bob", msgs[i]); !errors.Is(err, want) {
			t.Fatalf("message %d: %v, want %v", i, err, want)
		}
	}
}

// TestLoadGroupRejects feeds LoadGroup broken states.
func TestLoadGroupRejects(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	tg.send("bob", "x")
	data := marshalState(t, tg.members["alice"])

	if _, err := LoadGroup(data, nil); err != nil {
		t.Fatal(err)
	}
	future := bytes.Clone(data)
	future[5]++
	if _, err := LoadGroup(future, nil); !errors.Is(err, ErrUnknownStateVersion) {
		t.Fatalf("unknown version: %v", err)
	}
	notState := bytes.Clone(data)
	notState[0] = 'X'
	for _, bad := range [][]byte{nil, {}, []byte("ARB"), []byte("ARBG"), notState, append(bytes.Clone(data), 0)} {
		if _, err := LoadGroup(bad, nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("LoadGroup(%d bytes): %v, want ErrMalformed", len(bad), err)
		}
	}
	// Every truncation fails cleanly (a sample of them: each load checks
	// keys and hashes).
	for n := 0; n < len(data); n += 1 + n/64 {
		if _, err := LoadGroup(data[:n], nil); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v, want ErrMalformed", n, err)
		}
	}
	// Corrupted bytes fail cleanly or load a state that writes back
	// unchanged.
	for i := 6; i < len(data); i += 1 + i/128 {
		c := bytes.Clone(data)
		c[i] ^= 0x55
		checkLoad(t, c)
	}
	// The state with another identity than the own leaf's.
	mallory, err := NewBasicIdentity(stateSuite, "alice")
	if err != nil {
		t.Fatal(err)
	}
	mixed := *tg.members["alice"]
	mixed.id = mallory
	if _, err := LoadGroup(marshalState(t, &mixed), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("state with another identity: %v", err)
	}
}

// checkLoad loads data: it must fail with ErrMalformed or
// ErrUnknownStateVersion, or load a group that writes data back.
func checkLoad(t *testing.T, data []byte) {
	t.Helper()
	g, err := LoadGroup(data, nil)
	if err != nil {
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownStateVersion) {
			t.Fatalf("error wraps neither ErrMalformed nor ErrUnknownStateVersion: %v", err)
		}
		return
	}
	out, err := g.MarshalBinary()
	if err != nil {
		t.Fatalf("loaded state does not marshal: %v", err)
	}
	if v := len(groupStateMagic); data[v] == 0 && data[v+1] == 1 {
		// A version 1 state writes back as version 2 without extensions.
		data = append(bytes.Clone(data), 0)
		data[v+1] = 2
	}
	if !bytes.Equal(out, data) {
		t.Fatal("loaded state writes back differently")
	}
}

// TestGroupStateMemoryStorage saves and loads through a MemoryStorage.
func TestGroupStateMemoryStorage(t *testing.T) {
	ctx := context.Background()
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	st := NewMemoryStorage()
	alice := tg.members["alice"]
	if err := alice.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGroupFromStore(ctx, st, alice.GroupID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.members["alice"] = g
	tg.chat()
	if _, err := LoadGroupFromStore(ctx, st, []byte("no such group"), nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing group: %v", err)
	}
	// A state stored under another group's ID is refused.
	data := marshalState(t, g)
	if err := st.PutGroupState(ctx, []byte("other"), data); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGroupFromStore(ctx, st, []byte("other"), nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("state under another ID: %v", err)
	}
}

// synthGroup returns a group of n members whose tree is synthesized
// (sparse, or full as after every member committed), as member 0.
func synthGroup(t testing.TB, n int, sparse bool) *Group {
	t.Helper()
	s, err := ciphersuite.Lookup(stateSuite)
	if err != nil {
		t.Fatal(err)
	}
	st, err := SynthesizeTree(s, n, SynthOptions{Sparse: sparse, Members: []LeafIndex{0}})
	if err != nil {
		t.Fatal(err)
	}
	m := st.Members[0]
	id := &Identity{Credential: m.Tree.Leaf(0).Credential, SigningKey: m.Signer}
	g, err := newGroup(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.tree = m.Tree
	g.gc = GroupContext{Version: ProtocolVersionMLS10, CipherSuite: stateSuite, GroupID: st.GroupID, Epoch: 7, TreeHash: m.Tree.TreeHash(), ConfirmedTranscriptHash: make([]byte, s.HashSize())}
	gcBytes, err := g.gc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	joiner := make([]byte, s.HashSize())
	rand.Read(joiner)
	secrets, err := DeriveEpochSecretsFromJoiner(s, joiner, nil, gcBytes)
	if err != nil {
		t.Fatal(err)
	}
	secrets.EraseJoinerSecrets()
	tag := ConfirmationTag(s, secrets.ConfirmationKey(), g.gc.ConfirmedTranscriptHash)
	interim, err := InterimTranscriptHash(s, g.gc.ConfirmedTranscriptHash, tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.installEpoch(&g.gc, gcBytes, secrets, interim, tag); err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGroupStateSize reports the size of the state of a 1,000-member
// group and checks that it grows linearly, dominated by the public tree.
func TestGroupStateSize(t *testing.T) {
	for _, sparse := range []bool{true, false} {
		g := synthGroup(t, 1000, sparse)
		treeBytes, err := g.tree.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		data := marshalState(t, g)
		start := time.Now()
		ng, err := LoadGroup(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		loadTime := time.Since(start)
		if again := marshalState(t, ng); !bytes.Equal(again, data) {
			t.Fatal("state changed in a round trip")
		}
		t.Logf("1000 members, %s tree: state %d bytes (%d per member), public tree %d bytes, load %v",
			shapeName(sparse), len(data), len(data)/1000, len(treeBytes), loadTime)
		// Everything but the public tree is a few KiB.
		if extra := len(data) - len(treeBytes); extra > 4096 {
			t.Fatalf("state holds %d bytes beyond the public tree", extra)
		}
	}
}

// TestGroupStateShapes restores groups whose kept trees grew and shrank,
// a removed member and a group a ReInit closed.
func TestGroupStateShapes(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	tg.add("alice", "dave", "erin") // 4 leaves to 8
	tg.chat()
	tg.commit("alice", CommitOptions{Remove: []LeafIndex{tg.leafOf("erin"), tg.leafOf("dave")}}, nil) // 8 to 4
	if n := tg.members["alice"].tree.NumLeaves(); n != 4 {
		t.Fatalf("tree of %d leaves, want 4", n)
	}
	if len(tg.members["alice"].past) < 2 {
		t.Fatal("past epochs not kept")
	}
	for _, name := range tg.order {
		tg.members[name] = reload(t, tg.members[name], nil)
	}
	tg.chat()

	// carol is removed; her group is inactive, before and after a restore.
	carol := tg.members["carol"]
	tg.commit("bob", CommitOptions{Remove: []LeafIndex{tg.leafOf("carol")}}, nil)
	if carol.Active() {
		t.Fatal("removed member still active")
	}
	carol = reload(t, carol, nil)
	if carol.Active() || carol.state != stateRemoved {
		t.Fatal("removed member active after restore")
	}
	if _, err := carol.Send([]byte("x")); !errors.Is(err, ErrGroupInactive) {
		t.Fatalf("send after removal: %v", err)
	}

	// A ReInit closes the group.
	ri := &ReInitProposal{GroupID: []byte("next"), Version: ProtocolVersionMLS10, CipherSuite: stateSuite, Extensions: Extensions{}}
	tg.commit("alice", CommitOptions{Proposals: []Proposal{{ReInit: ri}}}, nil)
	for _, name := range tg.order {
		g := reload(t, tg.members[name], nil)
		if g.state != stateReInit || g.reinit == nil || string(g.reinit.GroupID) != "next" {
			t.Fatalf("%s: ReInit state lost", name)
		}
	}
}

// stateSeeds returns real states of several shapes: a new group, and
// members of a group with past epochs, skipped keys, a cached proposal, a
// pending commit, and a removed member.
func stateSeeds(tb testing.TB) [][]byte {
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	cfg := &Config{MaxPastEpochs: 2}
	id, err := NewBasicIdentity(stateSuite, "alice")
	must(err)
	alice, err := CreateGroup(id, cfg, nil)
	must(err)
	seeds := [][]byte{marshalState(tb, alice)}
	members := []*Group{alice}
	// deliver has every member but from process m.
	deliver := func(from *Group, m *MLSMessage) {
		tb.Helper()
		for _, g := range members {
			if g != from {
				_, err := g.Process(m)
				must(err)
			}
		}
	}
	commit := func(from *Group, opts CommitOptions) *PendingCommit {
		tb.Helper()
		pc, err := from.Commit(opts)
		must(err)
		deliver(from, pc.Commit)
		_, err = from.MergePendingCommit()
		must(err)
		return pc
	}
	var kps []*KeyPackageBundle
	var ids []*Identity
	for _, name := range []string{"bob", "carol", "dave"} {
		id, err := NewBasicIdentity(stateSuite, name)
		must(err)
		kp, err := NewKeyPackage(id, nil)
		must(err)
		ids, kps = append(ids, id), append(kps, kp)
	}
	pc := commit(alice, CommitOptions{Add: []*KeyPackage{kps[0].KeyPackage, kps[1].KeyPackage}})
	for i := range 2 {
		g, err := Join(ids[i], pc.Welcome, kps[i], cfg, nil)
		must(err)
		members = append(members, g)
	}
	bob, carol := members[1], members[2]
	commit(bob, CommitOptions{Update: true})
	m1, err := alice.Send([]byte("1"))
	must(err)
	m2, err := alice.Send([]byte("2"))
	must(err)
	_, err = bob.Process(m2)
	must(err)
	_, err = carol.Process(m1)
	must(err)
	commit(carol, CommitOptions{Update: true})
	prop, err := alice.ProposeUpdate()
	must(err)
	deliver(alice, prop)
	_, err = carol.Commit(CommitOptions{Add: []*KeyPackage{kps[2].KeyPackage}})
	must(err)
	for _, g := range members {
		seeds = append(seeds, marshalState(tb, g))
	}
	must(carol.DiscardPendingCommit())
	commit(alice, CommitOptions{Remove: []LeafIndex{bob.OwnLeaf()}})
	seeds = append(seeds, marshalState(tb, bob))
	// Rotations pending: in carol's cached Update, in alice's commit.
	carolID, err := NewBasicIdentity(stateSuite, "carol")
	must(err)
	_, err = carol.ProposeUpdateIdentity(carolID)
	must(err)
	aliceID, err := NewBasicIdentity(stateSuite, "alice")
	must(err)
	_, err = alice.Commit(CommitOptions{NewIdentity: aliceID})
	must(err)
	return append(seeds, marshalState(tb, carol), marshalState(tb, alice))
}

// FuzzLoadGroup checks that LoadGroup never panics, fails only with
// ErrMalformed or ErrUnknownStateVersion, and that a state it accepts
// writes back unchanged.
func FuzzLoadGroup(f *testing.F) {
	for _, s := range stateSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkLoad(t, data) })
}

// BenchmarkGroupState measures writing and loading the state of a group
// with a full tree, and reports its size.
func BenchmarkGroupState(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		g := synthGroup(b, n, false)
		data := marshalState(b, g)
		b.Run(fmt.Sprintf("marshal/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := g.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "state-bytes")
		})
		b.Run(fmt.Sprintf("load/%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := LoadGroup(data, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGroupStateCoversFields fails when a field is added to a type whose
// state MarshalBinary writes: the new field must be written to the state
// (or left out on purpose, with a reason in group_state.go) and listed
// here.
func TestGroupStateCoversFields(t *testing.T) {
	for _, c := range []struct {
		v      any
		fields string
	}{
		// cfg is policy, given again at load; suite follows from id.
		// saved records what Save wrote, not state.
		{Group{}, "groupCore id state secrets pc pending past reinit exporter saved"},
		// nodes is written as an ExporterState; suite follows from the group.
		{exporterTree{}, "suite nodes"},
		// observer is set by NewPublicGroup and LoadPublicGroup, never by
		// a member.
		{groupCore{}, "cfg suite self tree gc gcBytes interim confirmationTag proposals resumeFrom resumeUsage observer"},
		// pc holds no key and follows from gc.
		{PublicGroup{}, "groupCore pc closed"},
		{pastEpoch{}, "epoch pc tree resumptionPSK"},
		// newID is written in the RotationState trailer.
		{cachedProposal{}, "ref proposal sender updatePriv sent newID"},
		{proposalCache{}, "list byRef"},
		{PendingCommit{}, "Commit Welcome GroupInfo RatchetTree commitBytes next"},
		{nextEpoch{}, "tree gc gcBytes secrets interim tag change reinit newID"},
		{EpochChange{}, "Epoch Committer CommitterLeaf Added Removed Updated RemovedSelf PSKs GroupContextExtensions ReInit"},
		// applicationExportSecret becomes the exporter tree's root when
		// the epoch is installed; a pending commit's is StateExtension 3.
		{EpochSecrets{}, "suite joinerSecret welcomeSecret senderDataSecret encryptionSecret exporterSecret externalSecret confirmationKey membershipKey resumptionPSK epochAuthenticator initSecret applicationExportSecret"},
		// gc is decoded from gcBytes; kdf follows from suite,
		// senderDataKey from senderDataSecret.
		{ProtectionContext{}, "suite gc gcBytes membershipKey senderDataSecret tree kdf senderDataKey"},
		// mu, maxForward and maxSkipped are not state; kdf follows from suite.
		{SecretTree{}, "mu suite kdf leafCount maxForward maxSkipped nodes leafSecrets"},
		{ratchet{}, "secret next floor skipped"},
		{treePrivate{}, "self leaf nodes"},
	} {
		typ := reflect.TypeOf(c.v)
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if strings.Join(got, " ") != c.fields {
			t.Errorf("%s has fields %q; the group state knows %q", typ.Name(), strings.Join(got, " "), c.fields)
		}
	}
}

// TestGroupStateResume restores the new group of a ReInit before its first
// commit is merged, and after discarding and redoing that commit, which
// needs the resumption PSK of the old group.
func TestGroupStateResume(t *testing.T) {
	tg := newTestGroup(t, stateSuite, nil, "alice")
	tg.add("alice", "bob")
	ri := &ReInitProposal{GroupID: []byte("next"), Version: ProtocolVersionMLS10, CipherSuite: stateSuite, Extensions: Extensions{}}
	tg.commit("alice", CommitOptions{Proposals: []Proposal{{ReInit: ri}}}, nil)
	bobID, bobKP := newKeyPackage(t, stateSuite, "bob")
	ng, _, err := tg.members["alice"].ReInit([]*KeyPackage{bobKP.KeyPackage}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ng = reload(t, ng, nil)
	if err := ng.DiscardPendingCommit(); err != nil {
		t.Fatal(err)
	}
	psk := PreSharedKeyID{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageReInit, PSKGroupID: tg.members["alice"].GroupID(), PSKEpoch: tg.members["alice"].Epoch()}
	pc, err := ng.Commit(CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage}, PSKs: []PreSharedKeyID{psk}})
	if err != nil {
		t.Fatal(err)
	}
	ng = reload(t, ng, nil)
	if _, err := ng.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	nb, err := Join(bobID, pc.Welcome, bobKP, nil, &JoinOptions{PreviousGroup: tg.members["bob"]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(nb.EpochAuthenticator(), ng.EpochAuthenticator()) {
		t.Fatal("the new group's members disagree")
	}
}
