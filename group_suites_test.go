package mls

import (
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// TestGroupEverySuite runs a short conversation in every suite of every
// profile (the post-quantum suites of the default profile, OpenMLS's
// X-Wing, ts-mls's suites): create, add, join, update, remove, messages,
// an external join and a state round trip, with every member agreeing on
// the epoch authenticator and exporter after each epoch.
func TestGroupEverySuite(t *testing.T) {
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
			// Suites 1-7 have their own scenarios; run each other suite once.
			key := profile + "/" + s.Name()
			if id <= 7 || seen[s.Name()+string(rune(id))] {
				continue
			}
			seen[s.Name()+string(rune(id))] = true
			t.Run(key, func(t *testing.T) { groupScenario(t, id) })
		}
	}
}

func groupScenario(t *testing.T, suite ciphersuite.ID) {
	tg := newTestGroup(t, suite, nil, "alice")
	tg.add("alice", "bob", "carol")
	tg.chat()
	tg.commit("bob", CommitOptions{Update: true}, nil)
	tg.chat()

	// Carol's state survives a save and restore mid-conversation.
	state, err := tg.members["carol"].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	restored, err := LoadGroup(state, tg.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg.members["carol"] = restored
	tg.chat()

	tg.commit("carol", CommitOptions{Remove: []LeafIndex{tg.leafOf("bob")}}, nil)

	// Dave joins by external commit.
	info, err := tg.members["alice"].GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	dave, err := NewBasicIdentity(suite, "dave")
	if err != nil {
		t.Fatal(err)
	}
	dg, commit, err := JoinExternal(info, dave, tg.cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("dave", commit)
	tg.members["dave"] = dg
	tg.order = append(tg.order, "dave")
	tg.check()
	tg.chat()
}
