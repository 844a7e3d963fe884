package ds_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ds"
)

// TestExternalCommit has a client that is no member join a group by
// external commit, checked against the GroupInfo the group last uploaded,
// and refuses the external commits that must not pass: another client's,
// a forged one, one for an old epoch, and one the stored GroupInfo
// cannot vouch for.
func TestExternalCommit(t *testing.T) {
	e := newEnv(t)
	alice, bob := e.client("alice-1", "alice"), e.client("bob-1", "bob")
	carol, dave := e.client("carol-1", "carol"), e.client("dave-1", "dave")
	bob.publish(1, false)
	ctx := context.Background()

	ga, err := mls.CreateGroup(alice.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := ga.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{parseKP(t, alice.claim("bob")[0].KeyPackage)}, GroupInfo: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc.Commit), Welcome: marshal(t, pc.Welcome), GroupInfo: marshal(t, pc.GroupInfo)}); st != 200 {
		t.Fatalf("commit: %d %s", st, out)
	}
	ga.MergePendingCommit()

	// The GroupInfo of epoch 1 reaches carol out of band (fetching it is
	// for members only).
	gc, ext, err := mls.JoinExternal(pc.GroupInfo, carol.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// With the GroupInfo of the epoch her commit makes, for the next
	// joiner.
	gi2, err := gc.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	bundle := ds.CommitBundle{Commit: marshal(t, ext), GroupInfo: marshal(t, gi2)}

	// dave cannot join with carol's commit: its leaf is carol's key.
	if st, out := dave.do("POST", gpath(ga)+"/commit", bundle); st != http.StatusForbidden {
		t.Fatalf("another client's external commit: %d %s, want 403", st, out)
	}
	// A forged signature does not verify.
	forged := *ext.PublicMessage
	forged.Auth.Signature = append([]byte(nil), forged.Auth.Signature...)
	forged.Auth.Signature[3] ^= 1
	if st, out := carol.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, &mls.MLSMessage{PublicMessage: &forged})}); st != http.StatusBadRequest {
		t.Fatalf("forged external commit: %d %s, want 400", st, out)
	}
	// Without its UpdatePath (RFC 9420 section 12.4.3.2: an external
	// commit MUST carry one), re-signed by carol: refused before the
	// server reads the path's leaf (the sender's key comes from it).
	gctx := &pc.GroupInfo.GroupInfo.GroupContext
	epc, err := mls.NewProtectionContext(gctx, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ac, err := epc.UnprotectPublic(ext.PublicMessage, nil)
	if err != nil {
		t.Fatal(err)
	}
	pathless := ac.Content
	commit := *pathless.Commit
	commit.Path = nil
	pathless.Commit = &commit
	resigned, err := epc.Sign(carol.ident.SigningKey, mls.WireFormatPublicMessage, &pathless)
	if err != nil {
		t.Fatal(err)
	}
	resigned.Auth.ConfirmationTag = ac.Auth.ConfirmationTag
	pm, err := epc.ProtectPublic(resigned)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := carol.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, &mls.MLSMessage{PublicMessage: pm})}); st != http.StatusBadRequest || !strings.Contains(string(out), "without a path") {
		t.Fatalf("external commit without a path: %d %s, want 400", st, out)
	}
	if ok, _ := e.store.IsMember(ctx, ga.GroupID(), "carol-1"); ok {
		t.Fatal("carol a member after refused commits")
	}

	// carol's own commit is accepted and makes her a member.
	if st, out := carol.do("POST", gpath(ga)+"/commit", bundle); st != 200 {
		t.Fatalf("external commit: %d %s", st, out)
	}
	if leaf, known, err := e.store.Leaf(ctx, ga.GroupID(), "carol-1"); err != nil || !known || leaf != 2 {
		t.Fatalf("carol after her external commit: leaf %d, known %v, %v; want member at leaf 2", leaf, known, err)
	}
	// alice gets the commit, sees carol join, and carol can talk.
	msgs := alice.inbox(0, "0s")
	if len(msgs) != 1 {
		t.Fatalf("alice's inbox has %d messages, want the external commit", len(msgs))
	}
	var cm mls.MLSMessage
	if err := cm.UnmarshalBinary(msgs[0].Message); err != nil {
		t.Fatal(err)
	}
	rcv, err := ga.Process(&cm)
	if err != nil {
		t.Fatal(err)
	}
	if rcv.NewEpoch == nil || len(rcv.NewEpoch.Added) != 1 || ga.Epoch() != 2 {
		t.Fatalf("alice processed the external commit as %+v", rcv)
	}
	hello, _ := gc.Send([]byte("hello from carol"))
	if st, out := carol.do("POST", gpath(gc)+"/messages", marshal(t, hello)); st != 200 {
		t.Fatalf("carol's message: %d %s", st, out)
	}
	got := alice.inbox(msgs[0].Seq, "0s")
	var hm mls.MLSMessage
	if len(got) != 1 || hm.UnmarshalBinary(got[0].Message) != nil {
		t.Fatal("alice did not get carol's message")
	}
	if r, err := ga.Process(&hm); err != nil || string(r.Data) != "hello from carol" {
		t.Fatalf("carol's message: %v", err)
	}

	// dave joining from the epoch-1 GroupInfo is an epoch behind.
	_, late, err := mls.JoinExternal(pc.GroupInfo, dave.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, out := dave.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, late)})
	var conflict struct{ Epoch uint64 }
	if st != http.StatusConflict || json.Unmarshal(out, &conflict) != nil || conflict.Epoch != 2 {
		t.Fatalf("external commit of an old epoch: %d %s, want 409 with epoch 2", st, out)
	}
	// alice commits without a GroupInfo: the stored one stays at epoch 2,
	// so the server cannot check a commit against the epoch-3 GroupInfo
	// alice hands dave herself.
	pc3, err := ga.Commit(mls.CommitOptions{Update: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, out := alice.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, pc3.Commit)}); st != 200 {
		t.Fatalf("alice's update: %d %s", st, out)
	}
	ga.MergePendingCommit()
	gi3, err := ga.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ext3, err := mls.JoinExternal(gi3, dave.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := dave.do("POST", gpath(ga)+"/commit", ds.CommitBundle{Commit: marshal(t, ext3)}); st != http.StatusBadRequest {
		t.Fatalf("external commit without a stored GroupInfo of its epoch: %d %s, want 400", st, out)
	}
	if ok, _ := e.store.IsMember(ctx, ga.GroupID(), "dave-1"); ok {
		t.Fatal("dave a member after refused commits")
	}
	// An external commit into a group the server does not know.
	gx, err := mls.CreateGroup(dave.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gix, err := gx.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, extx, err := mls.JoinExternal(gix, carol.ident, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, out := carol.do("POST", gpath(gx)+"/commit", ds.CommitBundle{Commit: marshal(t, extx)}); st != http.StatusNotFound {
		t.Fatalf("external commit into an unknown group: %d %s, want 404", st, out)
	}
}
