package mls

import (
	"testing"
	"testing/cryptotest"
)

// fuzzGroupMessages builds a group of Alice (public handshake messages),
// Bob and Carol (private ones), and returns Bob with the encodings of
// messages of the others he has not processed: application messages,
// proposals and commits in both framings, an external commit and a
// proposal of a new member.
func fuzzGroupMessages(t *testing.T) (*Group, [][]byte) {
	aliceID, _ := NewBasicIdentity(groupSuite, "alice")
	alice, err := CreateGroup(aliceID, &Config{PublicHandshake: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bobID, bobKP := newKeyPackage(t, groupSuite, "bob")
	carolID, carolKP := newKeyPackage(t, groupSuite, "carol")
	pc, err := alice.Commit(CommitOptions{Add: []*KeyPackage{bobKP.KeyPackage, carolKP.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	bob, err := Join(bobID, pc.Welcome, bobKP, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	carol, err := Join(carolID, pc.Welcome, carolKP, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*MLSMessage
	add := func(m *MLSMessage, err error) {
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	add(carol.Send([]byte("hello")))
	add(alice.Send([]byte("hi")))
	add(alice.ProposeUpdate())
	add(carol.ProposeRemove(alice.OwnLeaf()))
	_, daveKP := newKeyPackage(t, groupSuite, "dave")
	add(alice.ProposeAdd(daveKP.KeyPackage))
	apc, err := alice.Commit(CommitOptions{IgnorePending: true, Update: true})
	add(apc.Commit, err)
	cpc, err := carol.Commit(CommitOptions{IgnorePending: true, Add: []*KeyPackage{daveKP.KeyPackage}})
	add(cpc.Commit, err)
	gi, err := bob.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	erinID, erinKP := newKeyPackage(t, groupSuite, "erin")
	_, ext, err := JoinExternal(gi, erinID, nil, nil)
	add(ext, err)
	add(NewMemberProposal(gi, erinID, erinKP.KeyPackage))
	add(pc.Welcome, nil)
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		if out[i], err = m.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	return bob, out
}

// FuzzGroupProcess flips bytes of valid messages of a group and processes
// them: Process must return an error or a result, never panic, and a
// message that fails must leave the group usable.
func FuzzGroupProcess(f *testing.F) {
	for i := range 10 {
		f.Add(uint8(i), uint16(0), []byte{})
		f.Add(uint8(i), uint16(3*i+20), []byte{1})
		f.Add(uint8(i), uint16(100+i), []byte{0x80, 0, 0xff})
	}
	f.Fuzz(func(t *testing.T, which uint8, at uint16, xor []byte) {
		cryptotest.SetGlobalRandom(t, 1)
		bob, msgs := fuzzGroupMessages(t)
		data := msgs[int(which)%len(msgs)]
		for i, x := range xor {
			data[(int(at)+i)%len(data)] ^= x
		}
		var m MLSMessage
		if m.UnmarshalBinary(data) != nil {
			return
		}
		epoch := bob.Epoch()
		if _, err := bob.Process(&m); err != nil && bob.Epoch() != epoch {
			t.Fatalf("failed message changed the epoch: %v", err)
		}
		if bob.Active() {
			if _, err := bob.Commit(CommitOptions{IgnorePending: true, Update: true}); err != nil {
				t.Fatalf("group unusable after a message: %v", err)
			}
		}
	})
}
