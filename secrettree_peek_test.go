package mls

import (
	"bytes"
	"errors"
	"testing"
)

func TestPeekKeyDoesNotConsume(t *testing.T) {
	keys, nonces := senderKeys(t, 4, 3, ApplicationRatchet, 20)
	tree := newTestTree(t, 4, SecretTreeConfig{MaxSkippedKeys: 5})
	peek := func(g uint32) error {
		k, n, err := tree.PeekKey(3, ApplicationRatchet, g)
		if err != nil {
			return err
		}
		if !bytes.Equal(k, keys[g]) || !bytes.Equal(n, nonces[g]) {
			t.Fatalf("peeked generation %d: receiver and sender disagree", g)
		}
		return nil
	}
	// Peeking any number of times, ahead or at the ratchet, changes nothing.
	for range 3 {
		for _, g := range []uint32{0, 1, 7} {
			if err := peek(g); err != nil {
				t.Fatalf("peek %d: %v", g, err)
			}
		}
	}
	// Consuming 7 keeps 2..6 (the window is 5) and drops 0 and 1.
	if err := tree.ConsumeKey(3, ApplicationRatchet, 7); err != nil {
		t.Fatal(err)
	}
	for g, want := range map[uint32]error{7: ErrGenerationReused, 1: ErrGenerationExpired, 0: ErrGenerationExpired} {
		if err := peek(g); !errors.Is(err, want) {
			t.Errorf("peek %d after consuming 7: got %v, want %v", g, err, want)
		}
		if err := tree.ConsumeKey(3, ApplicationRatchet, g); !errors.Is(err, want) {
			t.Errorf("consume %d after consuming 7: got %v, want %v", g, err, want)
		}
	}
	// A skipped key can be peeked, then consumed once.
	for range 2 {
		if err := peek(4); err != nil {
			t.Fatalf("peek skipped 4: %v", err)
		}
	}
	if err := tree.ConsumeKey(3, ApplicationRatchet, 4); err != nil {
		t.Fatal(err)
	}
	if err := tree.ConsumeKey(3, ApplicationRatchet, 4); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("second consume of 4: got %v, want ErrGenerationReused", err)
	}
	// The ratchet after consume is where Key would have left it.
	wantKey(t, tree, 3, ApplicationRatchet, 8, keys, nonces)
	wantKey(t, tree, 3, ApplicationRatchet, 5, keys, nonces)
	if err := peek(8); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("peek 8 after Key: got %v, want ErrGenerationReused", err)
	}
}

func TestPeekKeyLimits(t *testing.T) {
	tree := newTestTree(t, 2, SecretTreeConfig{MaxForwardDistance: 10})
	if _, _, err := tree.PeekKey(1, HandshakeRatchet, 11); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("peek beyond the forward distance: got %v, want ErrGenerationTooFar", err)
	}
	if err := tree.ConsumeKey(1, HandshakeRatchet, 11); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("consume beyond the forward distance: got %v, want ErrGenerationTooFar", err)
	}
	if _, _, err := tree.PeekKey(2, HandshakeRatchet, 0); err == nil {
		t.Error("peek at a leaf outside the tree accepted")
	}
	if _, _, err := tree.PeekKey(1, RatchetType(9), 0); err == nil {
		t.Error("peek with an unknown ratchet type accepted")
	}
	tree.Erase()
	if _, _, err := tree.PeekKey(0, HandshakeRatchet, 0); err == nil {
		t.Error("peek in an erased tree accepted")
	}
}
