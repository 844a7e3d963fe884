package mls_test

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// Alice creates a group and adds Bob, who joins from the Welcome; they
// exchange a message. Errors are left out for brevity; check each one.
func ExampleCreateGroup() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, _ := mls.NewKeyPackage(bob, nil) // Bob publishes bobKP.KeyPackage

	group, _ := mls.CreateGroup(alice, nil, nil)
	commit, _ := group.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	group.MergePendingCommit() // once the Delivery Service accepted commit.Commit

	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)
	msg, _ := group.Send([]byte("hello, Bob"))
	received, _ := bobGroup.Process(msg)

	fmt.Printf("%s: %s\n", received.Member.Credential.Identity, received.Data)
	// Output: alice: hello, Bob
}

// Every incoming message goes through Process, which says what it was.
func ExampleGroup_Process() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	carol, _ := mls.NewBasicIdentity(suite, "carol")
	bobKP, _ := mls.NewKeyPackage(bob, nil)
	carolKP, _ := mls.NewKeyPackage(carol, nil)

	group, _ := mls.CreateGroup(alice, nil, nil)
	commit, _ := group.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	group.MergePendingCommit()
	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)

	// Bob proposes to add Carol; Alice commits his proposal.
	proposal, _ := bobGroup.ProposeAdd(carolKP.KeyPackage)
	group.Process(proposal)
	commit, _ = group.Commit(mls.CommitOptions{})
	group.MergePendingCommit()

	for _, m := range []*mls.MLSMessage{commit.Commit} {
		r, err := bobGroup.Process(m)
		if err != nil {
			panic(err)
		}
		switch r.Kind {
		case mls.KindApplication:
			fmt.Printf("message: %s\n", r.Data)
		case mls.KindProposal:
			fmt.Println("proposal cached")
		case mls.KindCommit:
			for _, added := range r.NewEpoch.Added {
				fmt.Printf("epoch %d: %s joined\n", r.NewEpoch.Epoch, added.Credential.Identity)
			}
		}
	}
	carolGroup, _ := mls.Join(carol, commit.Welcome, carolKP, nil, nil)
	fmt.Println(bytes.Equal(carolGroup.EpochAuthenticator(), bobGroup.EpochAuthenticator()))
	// Output:
	// epoch 2: carol joined
	// true
}
