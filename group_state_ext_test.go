package mls_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/dirstore"
)

// client is a client that keeps its groups in a state folder and, like a
// command-line tool, loads a group, does one thing and saves it again.
type client struct {
	t   *testing.T
	dir string
}

// with loads the group gid from the client's folder, runs f and saves the
// group.
func (c *client) with(gid []byte, f func(g *mls.Group)) {
	c.t.Helper()
	ctx := context.Background()
	st, err := dirstore.Open(c.dir, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	g, err := mls.LoadGroupFromStore(ctx, st, gid, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	f(g)
	if err := g.Save(ctx, st); err != nil {
		c.t.Fatal(err)
	}
}

// save stores g in the client's folder for the first time.
func (c *client) save(g *mls.Group) {
	c.t.Helper()
	st, err := dirstore.Open(c.dir, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	defer st.Close()
	if err := g.Save(context.Background(), st); err != nil {
		c.t.Fatal(err)
	}
}

// TestGroupStateDirstore runs a conversation in which every step of every
// client starts from the state in its folder: a commit is created in one
// step and merged from its echo in another.
func TestGroupStateDirstore(t *testing.T) {
	suite := ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice := &client{t, t.TempDir()}
	bob := &client{t, t.TempDir()}
	aliceID, _ := mls.NewBasicIdentity(suite, "alice")
	bobID, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, err := mls.NewKeyPackage(bobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := mls.CreateGroup(aliceID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gid := g.GroupID()
	alice.save(g)

	var commit, welcome *mls.MLSMessage
	alice.with(gid, func(g *mls.Group) {
		pc, err := g.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
		if err != nil {
			t.Fatal(err)
		}
		commit, welcome = pc.Commit, pc.Welcome
	})
	alice.with(gid, func(g *mls.Group) {
		r, err := g.Process(commit)
		if err != nil || !r.Own || len(r.NewEpoch.Added) != 1 {
			t.Fatalf("echo of the pending commit: %v %+v", err, r)
		}
	})
	bg, err := mls.Join(bobID, welcome, bobKP, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bob.save(bg)

	var msgs []*mls.MLSMessage
	alice.with(gid, func(g *mls.Group) {
		for i := range 3 {
			m, err := g.Send(fmt.Appendf(nil, "message %d", i))
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
	})
	// Out of order, one step each.
	for _, i := range []int{2, 0, 1} {
		bob.with(gid, func(g *mls.Group) {
			r, err := g.Process(msgs[i])
			if err != nil || string(r.Data) != fmt.Sprintf("message %d", i) {
				t.Fatalf("message %d: %v", i, err)
			}
		})
	}
	bob.with(gid, func(g *mls.Group) {
		if _, err := g.Process(msgs[1]); err == nil {
			t.Fatal("replay accepted after a restore")
		}
	})
	var update *mls.MLSMessage
	bob.with(gid, func(g *mls.Group) {
		pc, err := g.Commit(mls.CommitOptions{Update: true})
		if err != nil {
			t.Fatal(err)
		}
		update = pc.Commit
		if _, err := g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
	})
	var auth []byte
	alice.with(gid, func(g *mls.Group) {
		if _, err := g.Process(update); err != nil {
			t.Fatal(err)
		}
		auth = g.EpochAuthenticator()
	})
	bob.with(gid, func(g *mls.Group) {
		if string(g.EpochAuthenticator()) != string(auth) {
			t.Fatal("alice and bob disagree on the epoch")
		}
	})
}

// A client that stops and starts saves its group after every change and
// restores it, with its Config, when it needs it again.
func ExampleLoadGroup() {
	suite := ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	cfg := &mls.Config{MaxPastEpochs: 2}
	g, _ := mls.CreateGroup(alice, cfg, nil)

	// The state holds every secret of the group: keep it as safe as the
	// signing key.
	state, err := g.MarshalBinary()
	if err != nil {
		panic(err)
	}
	restored, err := mls.LoadGroup(state, cfg)
	if err != nil {
		panic(err)
	}
	clear(state)
	fmt.Println(restored.Epoch(), len(restored.Members()), string(restored.EpochAuthenticator()) == string(g.EpochAuthenticator()))
	// Output: 0 1 true
}
