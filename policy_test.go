package mls

import (
	"bytes"
	"errors"
	"testing"
)

var errNotAllowed = errors.New("not allowed")

// snapshot is what must not change when a policy refuses a message.
type snapshot struct {
	state     []byte // the saved state, byte for byte (PublicMessage only)
	epoch     uint64
	auth      []byte
	treeHash  []byte
	members   int
	proposals int
	pending   bool
}

func snap(t *testing.T, g *Group) snapshot {
	t.Helper()
	s := snapshot{epoch: g.Epoch(), auth: g.EpochAuthenticator(), treeHash: g.TreeHash(), members: len(g.Members()), proposals: len(g.PendingProposals()), pending: g.HasPendingCommit()}
	if g.cfg.PublicHandshake {
		var err error
		if s.state, err = g.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s snapshot) same(t *testing.T, g *Group) {
	t.Helper()
	now := snap(t, g)
	if now.epoch != s.epoch || !bytes.Equal(now.auth, s.auth) || !bytes.Equal(now.treeHash, s.treeHash) ||
		now.members != s.members || now.proposals != s.proposals || now.pending != s.pending {
		t.Fatalf("group changed by a refused message: %+v, was %+v", now, s)
	}
	// A PublicMessage touches no ratchet: the whole state is as it was.
	if s.state != nil && !bytes.Equal(now.state, s.state) {
		t.Fatal("the saved state changed after a refused message")
	}
}

// expectPolicy asserts that err is the refusal of hook by a policy that
// returned errNotAllowed.
func expectPolicy(t *testing.T, err error, hook string) {
	t.Helper()
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Hook != hook || !errors.Is(err, ErrRejectedByPolicy) || !errors.Is(err, errNotAllowed) {
		t.Fatalf("got %v, want a refusal by Policy.%s", err, hook)
	}
}

func TestPolicyRefusesProposal(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		alice := tg.members["alice"]
		var seen []ProposalInfo
		alice.cfg.Policy.Proposal = func(g *Group, p *ProposalInfo) error {
			if g != alice {
				t.Error("hook called with another group")
			}
			seen = append(seen, *p)
			if p.Proposal.Add != nil && string(p.Credential.Identity) != "carol" {
				return errNotAllowed
			}
			return nil
		}
		_, daveKP := newKeyPackage(t, groupSuite, "dave")
		msg, err := tg.members["bob"].ProposeAdd(daveKP.KeyPackage)
		if err != nil {
			t.Fatal(err)
		}
		before := snap(t, alice)
		_, err = alice.Process(msg)
		expectPolicy(t, err, "Proposal")
		before.same(t, alice)
		if len(seen) != 1 || seen[0].Sender.LeafIndex != tg.leafOf("bob") || string(seen[0].Credential.Identity) != "bob" || seen[0].Ref == nil {
			t.Fatalf("hook saw %+v", seen)
		}

		// Carol may add; her proposal is cached and Alice commits it.
		msg, err = tg.members["carol"].ProposeAdd(daveKP.KeyPackage)
		if err != nil {
			t.Fatal(err)
		}
		r, err := alice.Process(msg)
		if err != nil || r.Kind != KindProposal {
			t.Fatalf("Carol's proposal: %v", err)
		}
		pc, err := alice.Commit(CommitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(pc.next.change.Added) != 1 || string(pc.next.change.Added[0].Credential.Identity) != "dave" {
			t.Fatalf("commit adds %+v", pc.next.change.Added)
		}
	}
}

func TestPolicyRefusesCommit(t *testing.T) {
	for _, cfg := range []*Config{nil, {PublicHandshake: true}} {
		tg := newTestGroup(t, groupSuite, cfg, "alice")
		tg.add("alice", "bob", "carol")
		alice, bob := tg.members["alice"], tg.members["bob"]
		var info *CommitInfo
		alice.cfg.Policy.Commit = func(g *Group, c *CommitInfo) error {
			info = c
			if len(c.Change.Removed) > 0 && string(c.Credential.Identity) != "alice" {
				return errNotAllowed
			}
			return nil
		}
		// Carol proposes to remove herself (a Remove of her own leaf); Bob
		// commits it with an Add by value.
		prop, err := tg.members["carol"].ProposeRemove(tg.leafOf("carol"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.Process(prop); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.Process(prop); err != nil {
			t.Fatal(err)
		}
		_, daveKP := newKeyPackage(t, groupSuite, "dave")
		pc, err := bob.Commit(CommitOptions{Add: []*KeyPackage{daveKP.KeyPackage}})
		if err != nil {
			t.Fatal(err)
		}
		before := snap(t, alice)
		_, err = alice.Process(pc.Commit)
		expectPolicy(t, err, "Commit")
		before.same(t, alice)
		if info == nil || info.Committer.LeafIndex != tg.leafOf("bob") || string(info.Credential.Identity) != "bob" || len(info.Proposals) != 2 {
			t.Fatalf("hook saw %+v", info)
		}
		if p := info.Proposals[0]; p.Proposal.Remove == nil || p.Ref == nil || string(p.Credential.Identity) != "carol" {
			t.Fatalf("first proposal %+v", p)
		}
		if p := info.Proposals[1]; p.Proposal.Add == nil || p.Ref != nil || string(p.Credential.Identity) != "bob" {
			t.Fatalf("second proposal %+v", p)
		}
		if info.Change.Epoch != alice.Epoch()+1 || len(info.Change.Added) != 1 || len(info.Change.Removed) != 1 {
			t.Fatalf("change %+v", info.Change)
		}

		// The refused commit did not count: a later valid commit of the
		// epoch processes.
		if err := bob.DiscardPendingCommit(); err != nil {
			t.Fatal(err)
		}
		pc, err = bob.Commit(CommitOptions{IgnorePending: true, Update: true})
		if err != nil {
			t.Fatal(err)
		}
		r, err := alice.Process(pc.Commit)
		if err != nil || r.Kind != KindCommit {
			t.Fatalf("later commit: %v", err)
		}
		if _, err := bob.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(alice.EpochAuthenticator(), bob.EpochAuthenticator()) {
			t.Fatal("Alice and Bob disagree after the later commit")
		}
	}
}

// A policy refusing a commit that removes this client leaves it in the
// group, active.
func TestPolicyRefusesOwnRemoval(t *testing.T) {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob")
	bob := tg.members["bob"]
	bob.cfg.Policy.Commit = func(g *Group, c *CommitInfo) error {
		if c.Change.RemovedSelf {
			return errNotAllowed
		}
		return nil
	}
	pc, err := tg.members["alice"].Commit(CommitOptions{Remove: []LeafIndex{bob.OwnLeaf()}})
	if err != nil {
		t.Fatal(err)
	}
	before := snap(t, bob)
	_, err = bob.Process(pc.Commit)
	expectPolicy(t, err, "Commit")
	before.same(t, bob)
	if !bob.Active() {
		t.Fatal("Bob inactive after refusing his removal")
	}
}

func TestPolicySelectProposals(t *testing.T) {
	tg := newTestGroup(t, groupSuite, nil, "alice")
	tg.add("alice", "bob", "carol")
	alice := tg.members["alice"]
	// Alice leaves out the proposals of members other than herself, and
	// adds a Remove of Carol by value.
	var got []ProposalInfo
	alice.cfg.Policy.SelectProposals = func(g *Group, ps []ProposalInfo) ([]ProposalInfo, error) {
		got = append([]ProposalInfo(nil), ps...)
		var out []ProposalInfo
		for _, p := range ps {
			if p.Sender.LeafIndex == g.OwnLeaf() {
				out = append(out, p)
			}
		}
		return append(out, ProposalInfo{Proposal: &Proposal{Remove: &RemoveProposal{Removed: tg.leafOf("carol")}}}), nil
	}
	_, daveKP := newKeyPackage(t, groupSuite, "dave")
	prop, err := tg.members["bob"].ProposeAdd(daveKP.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	tg.broadcast("bob", prop)
	erinID, erinKP := newKeyPackage(t, groupSuite, "erin")
	change := tg.commit("alice", CommitOptions{Add: []*KeyPackage{erinKP.KeyPackage}}, map[string]*joiner{"erin": {erinID, erinKP}})
	if len(got) != 2 || got[0].Ref == nil || string(got[0].Credential.Identity) != "bob" || got[1].Ref != nil || got[1].Proposal.Add == nil {
		t.Fatalf("hook saw %+v", got)
	}
	// Bob's Add of Dave is left out; Alice's Add of Erin and the Remove
	// of Carol are committed, and every member applied the same.
	if len(change.Added) != 1 || string(change.Added[0].Credential.Identity) != "erin" || len(change.Removed) != 1 || string(change.Removed[0].Credential.Identity) != "carol" {
		t.Fatalf("change %+v", change)
	}

	// A hook's error stops the commit; a reference to nothing cached is an
	// error; a proposal by value is checked.
	alice.cfg.Policy.SelectProposals = func(*Group, []ProposalInfo) ([]ProposalInfo, error) { return nil, errNotAllowed }
	_, err = alice.Commit(CommitOptions{})
	expectPolicy(t, err, "SelectProposals")
	alice.cfg.Policy.SelectProposals = func(*Group, []ProposalInfo) ([]ProposalInfo, error) {
		return []ProposalInfo{{Ref: []byte("nothing")}}, nil
	}
	if _, err := alice.Commit(CommitOptions{}); err == nil {
		t.Fatal("reference to nothing cached accepted")
	}
	alice.cfg.Policy.SelectProposals = func(*Group, []ProposalInfo) ([]ProposalInfo, error) {
		return []ProposalInfo{{Proposal: &Proposal{Remove: &RemoveProposal{Removed: 9}}}}, nil
	}
	_, err = alice.Commit(CommitOptions{})
	checkRule(t, err, ruleRemoveBlank)
	if alice.HasPendingCommit() {
		t.Fatal("failed commit left pending")
	}
}

// The hooks see external senders, new members' proposals and external
// commits with their credentials.
func TestPolicyExternalSenders(t *testing.T) {
	tg := newTestGroup(t, groupSuite, &Config{PublicHandshake: true}, "alice")
	tg.add("alice", "bob")
	alice := tg.members["alice"]
	var creds []string
	alice.cfg.Policy.Proposal = func(g *Group, p *ProposalInfo) error {
		creds = append(creds, p.Sender.SenderType.String()+":"+string(p.Credential.Identity))
		return errNotAllowed
	}
	alice.cfg.Policy.Commit = func(g *Group, c *CommitInfo) error {
		creds = append(creds, c.Committer.SenderType.String()+":"+string(c.Credential.Identity))
		return errNotAllowed
	}
	carolID, carolKP := newKeyPackage(t, groupSuite, "carol")
	gi, err := alice.GroupInfo(nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := NewMemberProposal(gi, carolID, carolKP.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.Process(msg)
	expectPolicy(t, err, "Proposal")
	_, commit, err := JoinExternal(gi, carolID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := snap(t, alice)
	_, err = alice.Process(commit)
	expectPolicy(t, err, "Commit")
	before.same(t, alice)
	want := []string{"new_member_proposal:carol", "new_member_commit:carol"}
	if len(creds) != 2 || creds[0] != want[0] || creds[1] != want[1] {
		t.Fatalf("hooks saw %q, want %q", creds, want)
	}
}
