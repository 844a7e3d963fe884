package mls_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// adminPolicy lets only the members named in admins add or remove
// members: a proposal from anyone else is refused when it arrives, a
// commit that applies one is refused whole, and this client's own commits
// leave such proposals out. Anyone may still leave (Group.Leave sends a
// SelfRemove, not a Remove).
func adminPolicy(admins ...string) mls.Policy {
	allowed := func(p *mls.ProposalInfo) error {
		if p.Proposal.Add == nil && p.Proposal.Remove == nil {
			return nil
		}
		for _, a := range admins {
			if p.Credential != nil && string(p.Credential.Identity) == a {
				return nil
			}
		}
		return errors.New("only admins may add or remove members")
	}
	return mls.Policy{
		Proposal: func(_ *mls.Group, p *mls.ProposalInfo) error { return allowed(p) },
		Commit: func(_ *mls.Group, c *mls.CommitInfo) error {
			for i := range c.Proposals {
				if err := allowed(&c.Proposals[i]); err != nil {
					return err
				}
			}
			return nil
		},
		SelectProposals: func(_ *mls.Group, ps []mls.ProposalInfo) ([]mls.ProposalInfo, error) {
			var out []mls.ProposalInfo
			for _, p := range ps {
				if allowed(&p) == nil {
					out = append(out, p)
				}
			}
			return out, nil
		},
	}
}

// Alice is the group's admin: Bob may not add or remove members, and
// the groups of Alice and Carol refuse when he tries.
func ExamplePolicy() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	cfg := &mls.Config{Policy: adminPolicy("alice")}
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	carol, _ := mls.NewBasicIdentity(suite, "carol")
	dave, _ := mls.NewBasicIdentity(suite, "dave")
	bobKP, _ := mls.NewKeyPackage(bob, nil)
	carolKP, _ := mls.NewKeyPackage(carol, nil)
	daveKP, _ := mls.NewKeyPackage(dave, nil)

	aliceGroup, _ := mls.CreateGroup(alice, cfg, nil)
	commit, _ := aliceGroup.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage, carolKP.KeyPackage}})
	aliceGroup.MergePendingCommit()
	// Bob's client does not apply the policy (with it, his own commits
	// would leave out his proposals).
	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)
	carolGroup, _ := mls.Join(carol, commit.Welcome, carolKP, cfg, nil)

	// Bob proposes to add Dave: refused on arrival.
	proposal, _ := bobGroup.ProposeAdd(daveKP.KeyPackage)
	_, err := aliceGroup.Process(proposal)
	fmt.Println(err)

	// Bob commits the removal of Carol himself: Alice refuses the commit
	// and stays in her epoch.
	bobGroup.DiscardProposal(bobGroup.PendingProposals()[0].Ref)
	removal, _ := bobGroup.Commit(mls.CommitOptions{Remove: []mls.LeafIndex{carolGroup.OwnLeaf()}})
	_, err = aliceGroup.Process(removal.Commit)
	fmt.Println(errors.Is(err, mls.ErrRejectedByPolicy), aliceGroup.Epoch())

	// Alice adds Dave: everyone accepts.
	bobGroup.DiscardPendingCommit()
	commit, _ = aliceGroup.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{daveKP.KeyPackage}})
	aliceGroup.MergePendingCommit()
	r, err := carolGroup.Process(commit.Commit)
	fmt.Println(err, len(r.NewEpoch.Added), r.NewEpoch.Epoch)
	// Output:
	// mls: refused by the application's policy (Policy.Proposal): only admins may add or remove members
	// true 1
	// <nil> 1 2
}

// Bob renews his credential and signature key in his own commit (for
// example a certificate about to expire); Alice sees his new key, and
// messages signed with the old one are refused from then on.
func ExampleCommitOptions_newIdentity() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, _ := mls.NewKeyPackage(bob, nil)
	aliceGroup, _ := mls.CreateGroup(alice, nil, nil)
	commit, _ := aliceGroup.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	aliceGroup.MergePendingCommit()
	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)

	renewed, _ := mls.NewBasicIdentity(suite, "bob") // a new key, a new credential
	commit, _ = bobGroup.Commit(mls.CommitOptions{NewIdentity: renewed})
	bobGroup.MergePendingCommit()
	aliceGroup.Process(commit.Commit)

	m, _ := aliceGroup.Member(bobGroup.OwnLeaf())
	fmt.Println(bytes.Equal(m.SignatureKey, renewed.SigningKey.PublicKey()), bobGroup.Identity() == renewed)
	// Output: true true
}
