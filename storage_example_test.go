package mls_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// A client keeps its KeyPackages in a Storage until a Welcome uses one:
// it looks the bundle up, joins, and only then takes it, which deletes an
// ordinary KeyPackage's private keys for good.
func ExampleNewMemoryStorage() {
	ctx := context.Background()
	store := mls.NewMemoryStorage()

	alice, _ := mls.NewBasicIdentity(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "alice")
	bundle, _ := mls.NewKeyPackage(alice, nil)
	if err := store.PutKeyPackage(ctx, bundle); err != nil {
		panic(err)
	}
	refs, _ := store.KeyPackageRefs(ctx)
	fmt.Println("stored:", len(refs))

	// A Welcome names its recipient by KeyPackageRef.
	kp, err := store.KeyPackage(ctx, bundle.Ref())
	if err != nil {
		panic(err)
	}
	// ... join the group with kp; once that succeeded:
	if _, err := store.TakeKeyPackage(ctx, kp.Ref()); err != nil {
		panic(err)
	}
	_, err = store.TakeKeyPackage(ctx, kp.Ref())
	fmt.Println("used twice:", errors.Is(err, mls.ErrNotFound))

	// The group's state, serialized by the Group, and the epoch's
	// resumption PSK.
	groupID := []byte("team")
	store.PutGroupState(ctx, groupID, []byte("serialized state"))
	store.PutResumptionPSK(ctx, groupID, 1, []byte("resumption_psk of epoch 1"))
	psk, _ := mls.LookupPSK(ctx, store, &mls.PreSharedKeyID{
		PSKType: mls.PSKTypeResumption, Usage: mls.ResumptionPSKUsageBranch, PSKGroupID: groupID, PSKEpoch: 1,
	})
	fmt.Printf("%s\n", psk)
	// Output:
	// stored: 1
	// used twice: true
	// resumption_psk of epoch 1
}
