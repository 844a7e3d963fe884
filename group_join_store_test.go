package mls

import (
	"bytes"
	"errors"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func TestJoinFromStoreConsumesKeyPackage(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	for _, lastResort := range []bool{false, true} {
		ctx := t.Context()
		store := NewMemoryStorage()
		alice, _ := NewBasicIdentity(suite, "alice")
		bob, _ := NewBasicIdentity(suite, "bob")
		other, err := NewKeyPackage(bob, nil) // a second KeyPackage the Welcome is not for
		if err != nil {
			t.Fatal(err)
		}
		kp, err := NewKeyPackage(bob, &KeyPackageOptions{LastResort: lastResort})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []*KeyPackageBundle{other, kp} {
			if err := store.PutKeyPackage(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		g, err := CreateGroup(alice, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := g.Commit(CommitOptions{Add: []*KeyPackage{kp.KeyPackage}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.MergePendingCommit(); err != nil {
			t.Fatal(err)
		}
		bg, err := JoinFromStore(ctx, store, bob, pc.Welcome, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(bg.EpochAuthenticator(), g.EpochAuthenticator()) {
			t.Fatal("joiner disagrees")
		}
		_, err = store.KeyPackage(ctx, kp.Ref())
		if lastResort && err != nil {
			t.Fatalf("last-resort KeyPackage deleted: %v", err)
		}
		if !lastResort && !errors.Is(err, ErrNotFound) {
			t.Fatalf("used KeyPackage still stored: %v", err)
		}
		if _, err := store.KeyPackage(ctx, other.Ref()); err != nil {
			t.Fatalf("unrelated KeyPackage touched: %v", err)
		}
		// A second join from the same Welcome fails once the ordinary
		// KeyPackage is gone.
		if _, err := JoinFromStore(ctx, store, bob, pc.Welcome, nil, nil); !lastResort && !errors.Is(err, ErrNoWelcomeForKeyPackage) {
			t.Fatalf("second join: %v", err)
		}
	}
}

func TestJoinFromStoreForgedWelcomeKeepsKeyPackage(t *testing.T) {
	const suite = ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
	ctx := t.Context()
	store := NewMemoryStorage()
	alice, _ := NewBasicIdentity(suite, "alice")
	bob, _ := NewBasicIdentity(suite, "bob")
	kp, _ := NewKeyPackage(bob, nil)
	if err := store.PutKeyPackage(ctx, kp); err != nil {
		t.Fatal(err)
	}
	g, _ := CreateGroup(alice, nil, nil)
	pc, err := g.Commit(CommitOptions{Add: []*KeyPackage{kp.KeyPackage}})
	if err != nil {
		t.Fatal(err)
	}
	w := pc.Welcome.Welcome
	w.EncryptedGroupInfo[len(w.EncryptedGroupInfo)-1] ^= 1 // tampered
	if _, err := JoinFromStore(ctx, store, bob, pc.Welcome, nil, nil); err == nil {
		t.Fatal("tampered Welcome accepted")
	}
	if _, err := store.KeyPackage(ctx, kp.Ref()); err != nil {
		t.Fatalf("a forged Welcome burned the KeyPackage: %v", err)
	}
}
