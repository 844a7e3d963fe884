package mls_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// Dave joins by external commit from a GroupInfo that Alice published,
// without anyone adding him.
func ExampleJoinExternal() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	dave, _ := mls.NewBasicIdentity(suite, "dave")

	group, _ := mls.CreateGroup(alice, nil, nil)
	info, _ := group.GroupInfo(nil) // signed, with the tree and external_pub

	daveGroup, commit, err := mls.JoinExternal(info, dave, nil, nil)
	if err != nil {
		panic(err)
	}
	r, err := group.Process(commit) // every member processes the external commit
	if err != nil {
		panic(err)
	}
	fmt.Printf("epoch %d: %s joined\n", r.NewEpoch.Epoch, r.NewEpoch.Added[0].Credential.Identity)
	fmt.Println(bytes.Equal(group.EpochAuthenticator(), daveGroup.EpochAuthenticator()))
	// Output:
	// epoch 1: dave joined
	// true
}

// A member leaves by proposing its own removal; another member commits it
// (RFC 9420 section 12.4: nobody commits their own Remove).
func ExampleGroup_ProposeRemove() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, _ := mls.NewKeyPackage(bob, nil)

	group, _ := mls.CreateGroup(alice, nil, nil)
	commit, _ := group.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	group.MergePendingCommit()
	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)

	leave, _ := bobGroup.ProposeRemove(bobGroup.OwnLeaf())
	group.Process(leave)
	commit, _ = group.Commit(mls.CommitOptions{}) // commits the cached proposal
	group.MergePendingCommit()

	r, err := bobGroup.Process(commit.Commit)
	if err != nil {
		panic(err)
	}
	fmt.Println("bob removed:", r.NewEpoch.RemovedSelf, "active:", bobGroup.Active())
	fmt.Println("members left:", len(group.Members()))
	// Output:
	// bob removed: true active: false
	// members left: 1
}

// A group's state is saved to a Storage and restored later, for example
// after a restart; the restored group carries on the conversation.
func ExampleLoadGroupFromStore() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ctx := context.Background()
	store := mls.NewMemoryStorage()
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, _ := mls.NewKeyPackage(bob, nil)

	group, _ := mls.CreateGroup(alice, nil, nil)
	commit, _ := group.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	group.MergePendingCommit()
	bobGroup, _ := mls.Join(bob, commit.Welcome, bobKP, nil, nil)

	if err := bobGroup.Save(ctx, store); err != nil {
		panic(err)
	}
	restored, err := mls.LoadGroupFromStore(ctx, store, bobGroup.GroupID(), nil)
	if err != nil {
		panic(err)
	}
	msg, _ := group.Send([]byte("still there?"))
	r, err := restored.Process(msg)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", r.Data)
	// Output: still there?
}

// A Delivery Service follows a group with a PublicGroup: it checks every
// commit as a member would, with no member secret, and knows the members
// from the verified tree. The group sends its handshakes as
// PublicMessages.
func ExamplePublicGroup() {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	cfg := &mls.Config{PublicHandshake: true}
	alice, _ := mls.NewBasicIdentity(suite, "alice")
	bob, _ := mls.NewBasicIdentity(suite, "bob")
	bobKP, _ := mls.NewKeyPackage(bob, nil)

	group, _ := mls.CreateGroup(alice, cfg, nil)
	info, _ := group.GroupInfo(nil)
	server, err := mls.NewPublicGroup(info, nil, nil) // validates the tree as a joiner does
	if err != nil {
		panic(err)
	}

	commit, _ := group.Commit(mls.CommitOptions{Add: []*mls.KeyPackage{bobKP.KeyPackage}})
	r, err := server.Process(commit.Commit) // before the server stores or forwards it
	if err != nil {
		panic(err)
	}
	group.MergePendingCommit()
	fmt.Printf("epoch %d: %s added\n", r.NewEpoch.Epoch, r.NewEpoch.Added[0].Credential.Identity)
	fmt.Println("same tree:", bytes.Equal(server.TreeHash(), group.TreeHash()))

	// The state holds no secret; the server keeps it between requests.
	state, _ := server.MarshalBinary()
	server, _ = mls.LoadPublicGroup(state, nil)
	for _, m := range server.Members() {
		fmt.Println(m.Leaf, string(m.Credential.Identity))
	}
	// Output:
	// epoch 1: bob added
	// same tree: true
	// 0 alice
	// 1 bob
}
