package ds_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
	"github.com/arbormls/mls/ds/postgres"
	"github.com/arbormls/mls/ds/storetest"
)

// onBothStores runs f against a server (in verified mode, the default)
// on SQLite and on PostgreSQL.
func onBothStores(t *testing.T, f func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) {
		e := newEnv(t)
		e.srv.AllowUnverified = false
		f(t, e)
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(context.Background(), storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		srv := ds.NewServer(st, testLog(t))
		ts := httptest.NewServer(srv)
		t.Cleanup(func() { ts.Close(); st.Close() })
		f(t, &env{t: t, srv: srv, ts: ts, store: st})
	})
}

var publicCfg = &mls.Config{PublicHandshake: true}

// verifiedGroup has the clients names register and alice create a group
// of them all through the server, with PublicMessage handshakes, and
// the others join from their inboxes.
func verifiedGroup(t *testing.T, e *env, names ...string) ([]*client, []*mls.Group) {
	t.Helper()
	cs := make([]*client, len(names))
	for i, n := range names {
		cs[i] = e.client(n+"-1", n)
		if i > 0 {
			cs[i].publish(1, false)
		}
	}
	g, err := mls.CreateGroup(cs[0].ident, publicCfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kps []*mls.KeyPackage
	for _, c := range cs[1:] {
		kps = append(kps, parseKP(t, cs[0].claim(c.user)[0].KeyPackage))
	}
	pc, err := g.Commit(mls.CommitOptions{Add: kps, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome), GroupInfo: marshal(t, pc.GroupInfo)}
	if st, out := cs[0].do("POST", gpath(g)+"/commit", bundle); st != 200 {
		t.Fatalf("create: %d %s", st, out)
	}
	if _, err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	groups := []*mls.Group{g}
	for _, c := range cs[1:] {
		msgs := c.inbox(0, "0s")
		var w mls.MLSMessage
		if len(msgs) != 1 || w.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatalf("%s: no Welcome", c.id)
		}
		var kp *mls.KeyPackageBundle
		for _, b := range c.kps {
			kp = b
		}
		gm, err := mls.Join(c.ident, &w, kp, publicCfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.do("POST", "/v1/inbox/ack", ds.AckRequest{Seq: msgs[0].Seq})
		groups = append(groups, gm)
	}
	return cs, groups
}

// members returns the server's member set of g.
func members(t *testing.T, e *env, g *mls.Group) string {
	t.Helper()
	ms, err := e.store.Members(context.Background(), g.GroupID())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(ms, " ")
}

// TestEvictingGroupInfo: a member commits a valid commit with a GroupInfo
// whose tree holds only itself and another registered client (re-signed).
// The server used to take that tree as the member set, cutting Bob and
// Carol off (403 forever) and making Dave a "member" whose inbox anyone
// could fill. Now the GroupInfo is refused (it is not the tracked epoch's)
// and the member set stays the verified tree's.
func TestEvictingGroupInfo(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *env) {
		cs, gs := verifiedGroup(t, e, "alice", "bob", "carol")
		dave := e.client("dave-1", "dave")
		alice := gs[0]
		want := members(t, e, alice)
		pc, err := alice.Commit(mls.CommitOptions{Update: true, GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		gi := pc.GroupInfo.GroupInfo
		// The forged tree: alice's leaf and a leaf of dave's key.
		ext, _ := gi.Extensions.Find(mls.ExtensionTypeRatchetTree)
		var nodes mls.TreeNodes
		if err := nodes.UnmarshalBinary(ext.ExtensionData); err != nil {
			t.Fatal(err)
		}
		leaf := *nodes[2].Leaf
		leaf.SignatureKey = dave.ident.SigningKey.PublicKey()
		evict := mls.TreeNodes{nodes[0], nil, {Leaf: &leaf}}
		data, _ := evict.MarshalBinary()
		forged := &mls.GroupInfo{GroupContext: gi.GroupContext, ConfirmationTag: gi.ConfirmationTag, Signer: gi.Signer,
			Extensions: mls.Extensions{{ExtensionType: mls.ExtensionTypeRatchetTree, ExtensionData: data}}}
		if err := forged.Sign(cs[0].ident.SigningKey); err != nil {
			t.Fatal(err)
		}
		bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), GroupInfo: marshal(t, &mls.MLSMessage{GroupInfo: forged})}
		st, out := cs[0].do("POST", gpath(alice)+"/commit", bundle)
		if st != http.StatusBadRequest || !bytes.Contains(out, []byte("group_info")) {
			t.Fatalf("evicting GroupInfo: %d %s", st, out)
		}
		if got := members(t, e, alice); got != want {
			t.Fatalf("members %q, want %q", got, want)
		}
		// Bob still sends; Dave is no member.
		m, _ := gs[1].Send([]byte("still here"))
		if st, out := cs[1].do("POST", gpath(alice)+"/messages", marshal(t, m)); st != 200 {
			t.Fatalf("bob send: %d %s", st, out)
		}
		if st, _ := dave.do("GET", gpath(alice)+"/groupinfo", nil); st != http.StatusForbidden {
			t.Fatalf("dave fetches the GroupInfo: %d", st)
		}
		// The same commit with its true GroupInfo goes through.
		bundle.GroupInfo = marshal(t, pc.GroupInfo)
		if st, out := cs[0].do("POST", gpath(alice)+"/commit", bundle); st != 200 {
			t.Fatalf("honest commit: %d %s", st, out)
		}
		if got := members(t, e, alice); got != want {
			t.Fatalf("members after the commit %q, want %q", got, want)
		}
	})
}

// forge signs commit as alice's, in her group's epoch, as a PublicMessage:
// what a misbehaving member can send. Its membership tag is of a made-up
// key, which only members could check.
func forge(t *testing.T, c *client, g *mls.Group, commit *mls.Commit) []byte {
	t.Helper()
	gc := g.GroupContext()
	pc, err := mls.NewProtectionContext(&gc, make([]byte, 32), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	content := &mls.FramedContent{GroupID: gc.GroupID, Epoch: gc.Epoch, ContentType: mls.ContentTypeCommit, Commit: commit,
		Sender: mls.Sender{SenderType: mls.SenderTypeMember, LeafIndex: g.OwnLeaf()}}
	ac, err := pc.Sign(c.ident.SigningKey, mls.WireFormatPublicMessage, content)
	if err != nil {
		t.Fatal(err)
	}
	ac.Auth.ConfirmationTag = make([]byte, 32)
	m, err := pc.ProtectPublic(ac)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, &mls.MLSMessage{PublicMessage: m})
}

// TestForgedCommit: commits no member would accept, a PublicMessage whose
// signature fails and a signed one that breaks a rule of RFC 9420 section
// 12.2, used to be stored and fanned out, leaving the group stuck (honest
// commits got 409). Now each is refused with 400 naming what is wrong
// before anything is stored, and an honest commit of the same epoch goes
// through. A PrivateMessage handshake in a verified group is refused too.
func TestForgedCommit(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *env) {
		cs, gs := verifiedGroup(t, e, "alice", "bob", "carol")
		alice, bob := gs[0], gs[1]
		pc, err := alice.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		data := marshal(t, pc.Commit)
		data[len(data)-100] ^= 1 // in the signature, before the confirmation and membership tags
		if err := alice.DiscardPendingCommit(); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, want string
			commit     []byte
		}{
			{"bad signature", "signature", data},
			{"remove of a blank leaf", "remove_blank_leaf", forge(t, cs[0], alice, &mls.Commit{Proposals: []mls.ProposalOrRef{{Proposal: &mls.Proposal{Remove: &mls.RemoveProposal{Removed: 9}}}}})},
			{"empty commit without a path", "path_required", forge(t, cs[0], alice, &mls.Commit{})},
		} {
			st, out := cs[0].do("POST", gpath(alice)+"/commit", ds.CommitBundle{Commit: tc.commit})
			if st != http.StatusBadRequest || !bytes.Contains(out, []byte(tc.want)) {
				t.Fatalf("%s: %d %s", tc.name, st, out)
			}
			if ep, _ := e.store.Epoch(context.Background(), alice.GroupID()); ep != 1 {
				t.Fatalf("%s moved the group to epoch %d", tc.name, ep)
			}
			if msgs := cs[1].inbox(0, "0s"); len(msgs) != 0 {
				t.Fatalf("%s reached bob's inbox", tc.name)
			}
		}
		// Bob's honest commit of the epoch goes through, and alice
		// processes it.
		bpc, err := bob.Commit(mls.CommitOptions{Update: true, GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, out := cs[1].do("POST", gpath(bob)+"/commit", ds.CommitBundle{Commit: marshal(t, bpc.Commit), GroupInfo: marshal(t, bpc.GroupInfo)}); st != 200 {
			t.Fatalf("honest commit: %d %s", st, out)
		}
		msgs := cs[0].inbox(0, "0s")
		var m mls.MLSMessage
		if len(msgs) != 1 || m.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatalf("alice's inbox: %d messages", len(msgs))
		}
		if _, err := alice.Process(&m); err != nil {
			t.Fatal(err)
		}
		// A PrivateMessage commit of a verified group is refused.
		priv, err := mls.CreateGroup(cs[2].ident, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ppc, err := priv.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, out := cs[2].do("POST", gpath(priv)+"/commit", ds.CommitBundle{Commit: marshal(t, ppc.Commit)}); st != http.StatusBadRequest || !bytes.Contains(out, []byte("PublicMessage")) {
			t.Fatalf("PrivateMessage group creation: %d %s", st, out)
		}
	})
}

// TestVerifiedProposalsAndExternalJoin: the server checks and caches a
// PublicMessage proposal (a forged one is refused), a commit including it
// by reference goes through, and a client joins by external commit from
// the GroupInfo the server keeps, checked by the observer.
func TestVerifiedProposalsAndExternalJoin(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *env) {
		cs, gs := verifiedGroup(t, e, "alice", "bob")
		alice, bob := gs[0], gs[1]
		upd, err := bob.ProposeUpdate()
		if err != nil {
			t.Fatal(err)
		}
		bad := marshal(t, upd)
		bad[len(bad)-40] ^= 1
		if st, out := cs[1].do("POST", gpath(bob)+"/messages", bad); st != http.StatusBadRequest {
			t.Fatalf("forged proposal: %d %s", st, out)
		}
		if st, out := cs[1].do("POST", gpath(bob)+"/messages", marshal(t, upd)); st != 200 {
			t.Fatalf("proposal: %d %s", st, out)
		}
		msgs := cs[0].inbox(0, "0s")
		var m mls.MLSMessage
		if len(msgs) != 1 || m.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatalf("alice's inbox: %d messages", len(msgs))
		}
		if _, err := alice.Process(&m); err != nil {
			t.Fatal(err)
		}
		pc, err := alice.Commit(mls.CommitOptions{GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, out := cs[0].do("POST", gpath(alice)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), GroupInfo: marshal(t, pc.GroupInfo)}); st != 200 {
			t.Fatalf("commit by reference: %d %s", st, out)
		}
		if _, err := alice.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		// Carol joins by external commit from the server's GroupInfo.
		carol := e.client("carol-1", "carol")
		st, gi := cs[0].request("GET", gpath(alice)+"/groupinfo", nil, nil)
		if st != 200 {
			t.Fatalf("groupinfo: %d", st)
		}
		var gim mls.MLSMessage
		if err := gim.UnmarshalBinary(gi); err != nil {
			t.Fatal(err)
		}
		gc, commit, err := mls.JoinExternal(&gim, carol.ident, publicCfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st, out := carol.do("POST", gpath(alice)+"/commit", ds.CommitBundle{Commit: marshal(t, commit)}); st != 200 {
			t.Fatalf("external commit: %d %s", st, out)
		}
		if got := members(t, e, alice); got != "alice-1 bob-1 carol-1" {
			t.Fatalf("members %q", got)
		}
		// The GroupInfo kept is of the epoch before the external commit:
		// it is no longer handed out.
		if st, _ := carol.do("GET", gpath(gc)+"/groupinfo", nil); st != http.StatusNotFound {
			t.Fatalf("stale groupinfo: %d, want 404", st)
		}
	})
}

// TestUnverifiedReset: in a group whose handshakes are PrivateMessages
// (Server.AllowUnverified), the server cannot check commits. Carol sends
// one nobody can process, without a GroupInfo: the group used to be stuck
// for good (honest commits 409, external rejoins refused because the
// stored GroupInfo is an epoch behind). Now Alice resets it: an external
// commit (resync) against the last GroupInfo, checked by an observer
// started from it, with the GroupInfo of the epoch it starts. Bob and
// Carol, stuck in the old epoch, process it; all three agree again and
// talk; the group goes on with ordinary commits.
func TestUnverifiedReset(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *env) {
		e.srv.AllowUnverified = true
		alice, bob, carol := e.client("alice-1", "alice"), e.client("bob-1", "bob"), e.client("carol-1", "carol")
		bob.publish(1, false)
		carol.publish(1, false)
		ga, err := mls.CreateGroup(alice.ident, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage), parseKP(t, alice.claim("carol")[0].KeyPackage)}, GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome), GroupInfo: marshal(t, pc.GroupInfo)}); st != 200 {
			t.Fatalf("create: %d %s", st, out)
		}
		ga.MergePendingCommit()
		join := func(c *client) *mls.Group {
			msgs := c.inbox(0, "0s")
			var w mls.MLSMessage
			if len(msgs) != 1 || w.UnmarshalBinary(msgs[0].Message) != nil {
				t.Fatalf("%s: no Welcome", c.id)
			}
			for _, kp := range c.kps {
				g, err := mls.Join(c.ident, &w, kp, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				c.do("POST", "/v1/inbox/ack", ds.AckRequest{Seq: msgs[0].Seq})
				return g
			}
			return nil
		}
		gb, gc := join(bob), join(carol)

		// Carol's junk commit: a PrivateMessage whose ciphertext is
		// damaged, without a GroupInfo. The server cannot tell.
		junk, err := gc.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		gc.DiscardPendingCommit()
		data := marshal(t, junk.Commit)
		data[len(data)-1] ^= 1
		if st, out := carol.do("POST", gpath(gc)+"/commit", ds.CommitBundle{Commit: data}); st != 200 {
			t.Fatalf("junk commit: %d %s", st, out)
		}
		// Bob's honest commit now conflicts; nobody can process the junk.
		bpc, _ := gb.Commit(mls.CommitOptions{Update: true, GroupInfo: true})
		if st, _ := bob.do("POST", gpath(gb)+"/commit", ds.CommitBundle{Commit: marshal(t, bpc.Commit), GroupInfo: marshal(t, bpc.GroupInfo)}); st != http.StatusConflict {
			t.Fatalf("honest commit after the junk: %d, want 409", st)
		}
		gb.DiscardPendingCommit()
		process := func(c *client, g *mls.Group) (failed int) {
			for _, m := range c.inbox(0, "0s") {
				var msg mls.MLSMessage
				if msg.UnmarshalBinary(m.Message) != nil {
					t.Fatal("inbox message does not parse")
				}
				if _, err := g.Process(&msg); err != nil {
					failed++
				}
				c.do("POST", "/v1/inbox/ack", ds.AckRequest{Seq: m.Seq})
			}
			return failed
		}
		if process(alice, ga) != 1 || process(bob, gb) != 1 {
			t.Fatal("the junk commit should fail at alice and bob")
		}

		// Alice resets the group from its last GroupInfo.
		if st, _ := alice.do("GET", gpath(ga)+"/groupinfo", nil); st != http.StatusNotFound {
			t.Fatalf("stale GroupInfo served for joins: %d", st)
		}
		st, giData := alice.request("GET", gpath(ga)+"/groupinfo?reset=1", nil, nil)
		var gi mls.MLSMessage
		if st != 200 || gi.UnmarshalBinary(giData) != nil {
			t.Fatalf("GroupInfo to reset to: %d", st)
		}
		na, ext, err := mls.JoinExternal(&gi, alice.ident, nil, &mls.ExternalJoinOptions{Resync: true})
		if err != nil {
			t.Fatal(err)
		}
		ngi, err := na.GroupInfo(nil)
		if err != nil {
			t.Fatal(err)
		}
		// A reset with a GroupInfo that is not the one it makes is refused.
		if st, _ := alice.do("POST", gpath(ga)+"/reset", ds.CommitBundle{Commit: marshal(t, ext), GroupInfo: giData}); st != http.StatusBadRequest {
			t.Fatalf("reset with a wrong GroupInfo: %d", st)
		}
		if st, out := alice.do("POST", gpath(ga)+"/reset", ds.CommitBundle{Commit: marshal(t, ext), GroupInfo: marshal(t, ngi)}); st != 200 || !bytes.Contains(out, []byte(`"epoch":2`)) {
			t.Fatalf("reset: %d %s", st, out)
		}
		if process(bob, gb) != 0 || process(carol, gc) != 0 {
			t.Fatal("bob and carol should process the reset")
		}
		for _, g := range []*mls.Group{gb, gc} {
			if !bytes.Equal(g.EpochAuthenticator(), na.EpochAuthenticator()) {
				t.Fatal("the members disagree after the reset")
			}
		}
		if got := members(t, e, na); got != "alice-1 bob-1 carol-1" {
			t.Fatalf("members after the reset %q", got)
		}
		// Nothing left to reset; the group goes on.
		if st, _ := alice.do("POST", gpath(ga)+"/reset", ds.CommitBundle{Commit: marshal(t, ext), GroupInfo: marshal(t, ngi)}); st != http.StatusConflict && st != http.StatusBadRequest {
			t.Fatalf("second reset: %d", st)
		}
		m, _ := na.Send([]byte("back"))
		if st, out := alice.do("POST", gpath(na)+"/messages", marshal(t, m)); st != 200 {
			t.Fatalf("send: %d %s", st, out)
		}
		if process(bob, gb) != 0 {
			t.Fatal("bob cannot read alice's message")
		}
		bpc, _ = gb.Commit(mls.CommitOptions{Update: true, GroupInfo: true})
		if st, out := bob.do("POST", gpath(gb)+"/commit", ds.CommitBundle{Commit: marshal(t, bpc.Commit), GroupInfo: marshal(t, bpc.GroupInfo)}); st != 200 {
			t.Fatalf("commit after the reset: %d %s", st, out)
		}
	})
}

// TestTreeOutOfBand: the server hands joiners the ratchet tree it
// verified (GET .../tree?epoch=N), so that a Welcome leaves the tree out
// and stays small whatever the group's size; the joiner checks the tree
// against the GroupInfo's tree hash, also after later commits. Non-members
// get 403, an epoch without a tree 404.
func TestTreeOutOfBand(t *testing.T) {
	onBothStores(t, func(t *testing.T, e *env) {
		names := []string{"alice"}
		for i := range 12 {
			names = append(names, "m"+string(rune('a'+i)))
		}
		cs, gs := verifiedGroup(t, e, names...)
		alice := gs[0]
		dave := e.client("dave-1", "dave")
		dave.publish(1, false)
		kp := parseKP(t, cs[0].claim("dave")[0].KeyPackage)
		inline, err := alice.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{kp}})
		if err != nil {
			t.Fatal(err)
		}
		alice.DiscardPendingCommit()
		pc, err := alice.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{kp}, RatchetTreeOutOfBand: true, GroupInfo: true})
		if err != nil {
			t.Fatal(err)
		}
		small, big := len(marshal(t, pc.Welcome)), len(marshal(t, inline.Welcome))
		tree, _ := pc.RatchetTree.MarshalBinary()
		if small+len(tree) > big+64 || small >= big-len(tree)/2 {
			t.Fatalf("Welcome of %d bytes without the tree, %d with it (tree %d)", small, big, len(tree))
		}
		bundle := ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome), GroupInfo: marshal(t, pc.GroupInfo)}
		if st, out := cs[0].do("POST", gpath(alice)+"/commit", bundle); st != 200 {
			t.Fatalf("commit: %d %s", st, out)
		}
		alice.MergePendingCommit()
		outsider := e.client("eve-1", "eve")
		path := gpath(alice) + "/tree?epoch=" + strconv.FormatUint(alice.Epoch(), 10)
		if st, _ := outsider.do("GET", path, nil); st != http.StatusForbidden {
			t.Fatalf("tree for a non-member: %d", st)
		}
		if st, _ := dave.do("GET", gpath(alice)+"/tree?epoch=9", nil); st != http.StatusNotFound {
			t.Fatalf("tree of an epoch to come: %d", st)
		}
		// Another commit before dave joins: the tree of his Welcome's
		// epoch is still there.
		upc, err := alice.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		if st, out := cs[0].do("POST", gpath(alice)+"/commit", ds.CommitBundle{Commit: marshal(t, upc.Commit)}); st != 200 {
			t.Fatalf("commit: %d %s", st, out)
		}
		msgs := dave.inbox(0, "0s")
		var w mls.MLSMessage
		if len(msgs) != 2 || w.UnmarshalBinary(msgs[0].Message) != nil {
			t.Fatal("dave has no Welcome")
		}
		fetch := func(gid []byte, epoch uint64) (mls.TreeNodes, error) {
			st, data := dave.request("GET", gpath(alice)+"/tree?epoch="+strconv.FormatUint(epoch, 10), nil, nil)
			if st != 200 {
				t.Fatalf("tree: %d", st)
			}
			var nodes mls.TreeNodes
			return nodes, nodes.UnmarshalBinary(data)
		}
		var bundleKP *mls.KeyPackageBundle
		for _, b := range dave.kps {
			bundleKP = b
		}
		gd, err := mls.Join(dave.ident, &w, bundleKP, publicCfg, &mls.JoinOptions{RatchetTreeFunc: fetch})
		if err != nil {
			t.Fatal(err)
		}
		var next mls.MLSMessage
		if next.UnmarshalBinary(msgs[1].Message) != nil {
			t.Fatal("dave's second message does not parse")
		}
		if _, err := gd.Process(&next); err != nil {
			t.Fatal(err)
		}
		alice.MergePendingCommit()
		if !bytes.Equal(gd.EpochAuthenticator(), alice.EpochAuthenticator()) {
			t.Fatal("dave joined another state")
		}
	})
}
