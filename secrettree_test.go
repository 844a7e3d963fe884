package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/arbormls/mls/internal/treemath"
)

func newTestTree(t testing.TB, leaves uint32, cfg SecretTreeConfig) *SecretTree {
	t.Helper()
	s := ksSuite(t)
	tree, err := NewSecretTree(s, bytes.Repeat([]byte{0x5a}, s.HashSize()), leaves, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// senderKeys walks a fresh sender ratchet to generation n, returning each
// generation's key and nonce: the reference a receiver must agree with.
func senderKeys(t *testing.T, leaves uint32, leaf LeafIndex, rt RatchetType, n int) (keys, nonces [][]byte) {
	t.Helper()
	tree := newTestTree(t, leaves, SecretTreeConfig{})
	for i := range n {
		g, k, nc, err := tree.NextKey(leaf, rt)
		if err != nil {
			t.Fatal(err)
		}
		if g != uint32(i) {
			t.Fatalf("sender generation %d, want %d", g, i)
		}
		keys, nonces = append(keys, k), append(nonces, nc)
	}
	return keys, nonces
}

func wantKey(t *testing.T, tree *SecretTree, leaf LeafIndex, rt RatchetType, g uint32, keys, nonces [][]byte) {
	t.Helper()
	k, n, err := tree.Key(leaf, rt, g)
	if err != nil {
		t.Fatalf("generation %d: %v", g, err)
	}
	if !bytes.Equal(k, keys[g]) || !bytes.Equal(n, nonces[g]) {
		t.Fatalf("generation %d: receiver and sender disagree", g)
	}
}

func TestRatchetReuseRejected(t *testing.T) {
	tree := newTestTree(t, 4, SecretTreeConfig{})
	if _, _, err := tree.Key(1, ApplicationRatchet, 5); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tree.Key(1, ApplicationRatchet, 5); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("second use of generation 5: %v, want ErrGenerationReused", err)
	}
	// The handshake ratchet of the same leaf is independent.
	if _, _, err := tree.Key(1, HandshakeRatchet, 5); err != nil {
		t.Errorf("handshake generation 5: %v", err)
	}
	// A generation the sender side already used is gone for receiving too.
	g, _, _, err := tree.NextKey(2, ApplicationRatchet)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tree.Key(2, ApplicationRatchet, g); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("receiving a sent generation: %v, want ErrGenerationReused", err)
	}
	if g2, _, _, _ := tree.NextKey(2, ApplicationRatchet); g2 != g+1 {
		t.Errorf("sender generation %d after %d", g2, g)
	}
}

func TestRatchetBeyondForwardDistance(t *testing.T) {
	tree := newTestTree(t, 2, SecretTreeConfig{MaxForwardDistance: 10})
	if _, _, err := tree.Key(0, ApplicationRatchet, 11); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("generation 11 with distance 10: %v, want ErrGenerationTooFar", err)
	}
	if _, _, err := tree.Key(0, ApplicationRatchet, 10); err != nil {
		t.Errorf("generation 10 with distance 10: %v", err)
	}
	// The distance counts from where the ratchet now stands (11).
	if _, _, err := tree.Key(0, ApplicationRatchet, 22); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("generation 22 from 11: %v, want ErrGenerationTooFar", err)
	}
	if _, _, err := tree.Key(0, ApplicationRatchet, 21); err != nil {
		t.Errorf("generation 21 from 11: %v", err)
	}
	if _, _, err := tree.Key(0, ApplicationRatchet, math.MaxUint32); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("generation 2^32-1: %v, want ErrGenerationTooFar", err)
	}
	def := newTestTree(t, 2, SecretTreeConfig{})
	if _, _, err := def.Key(0, HandshakeRatchet, DefaultMaxForwardDistance+1); !errors.Is(err, ErrGenerationTooFar) {
		t.Errorf("default distance: %v, want ErrGenerationTooFar", err)
	}
}

func TestRatchetOutOfOrder(t *testing.T) {
	keys, nonces := senderKeys(t, 8, 5, ApplicationRatchet, 12)
	tree := newTestTree(t, 8, SecretTreeConfig{})
	for _, g := range []uint32{5, 2, 4, 0, 11, 1, 3, 10, 6} {
		wantKey(t, tree, 5, ApplicationRatchet, g, keys, nonces)
	}
	for _, g := range []uint32{2, 0, 11, 5} {
		if _, _, err := tree.Key(5, ApplicationRatchet, g); !errors.Is(err, ErrGenerationReused) {
			t.Errorf("replayed generation %d: %v, want ErrGenerationReused", g, err)
		}
	}
	wantKey(t, tree, 5, ApplicationRatchet, 7, keys, nonces)
	wantKey(t, tree, 5, ApplicationRatchet, 8, keys, nonces)
	wantKey(t, tree, 5, ApplicationRatchet, 9, keys, nonces)
	if n := len(tree.leafSecrets[5].application.skipped); n != 0 {
		t.Errorf("%d skipped keys kept after all were used", n)
	}
}

func TestRatchetSkippedWindow(t *testing.T) {
	keys, nonces := senderKeys(t, 2, 1, HandshakeRatchet, 40)
	tree := newTestTree(t, 2, SecretTreeConfig{MaxSkippedKeys: 3})
	wantKey(t, tree, 1, HandshakeRatchet, 10, keys, nonces) // keeps 7, 8, 9
	if _, _, err := tree.Key(1, HandshakeRatchet, 6); !errors.Is(err, ErrGenerationExpired) {
		t.Errorf("generation 6 outside a window of 3: %v, want ErrGenerationExpired", err)
	}
	wantKey(t, tree, 1, HandshakeRatchet, 8, keys, nonces)
	wantKey(t, tree, 1, HandshakeRatchet, 12, keys, nonces) // keeps 7, 9, 11: drops none
	wantKey(t, tree, 1, HandshakeRatchet, 14, keys, nonces) // adds 13: drops 7
	if _, _, err := tree.Key(1, HandshakeRatchet, 7); !errors.Is(err, ErrGenerationExpired) {
		t.Errorf("dropped generation 7: %v, want ErrGenerationExpired", err)
	}
	if _, _, err := tree.Key(1, HandshakeRatchet, 8); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("used generation 8: %v, want ErrGenerationReused", err)
	}
	for _, g := range []uint32{11, 9, 13} {
		wantKey(t, tree, 1, HandshakeRatchet, g, keys, nonces)
	}
	// A jump longer than the window keeps only its last 3 generations.
	wantKey(t, tree, 1, HandshakeRatchet, 39, keys, nonces)
	if r := &tree.leafSecrets[1].handshake; len(r.skipped) != 3 {
		t.Errorf("%d skipped keys kept, want 3", len(r.skipped))
	}
	if _, _, err := tree.Key(1, HandshakeRatchet, 35); !errors.Is(err, ErrGenerationExpired) {
		t.Errorf("generation 35: %v, want ErrGenerationExpired", err)
	}
	wantKey(t, tree, 1, HandshakeRatchet, 36, keys, nonces)

	none := newTestTree(t, 2, SecretTreeConfig{MaxSkippedKeys: -1})
	wantKey(t, none, 1, HandshakeRatchet, 3, keys, nonces)
	if _, _, err := none.Key(1, HandshakeRatchet, 2); !errors.Is(err, ErrGenerationExpired) {
		t.Errorf("no window: %v, want ErrGenerationExpired", err)
	}
}

// TestSecretTreeDeletion follows the example of RFC 9420 section 9.2:
// receiving from leaf 3 of 4 at generation 1 consumes the tree secrets on
// its path and application ratchet secrets 0 and 1, keeping K0/N0, AR2,
// HR0 and the sibling secrets E (node 1) and C (node 4).
func TestSecretTreeDeletion(t *testing.T) {
	tree := newTestTree(t, 4, SecretTreeConfig{})
	root := tree.nodes[treemath.Root(4)]
	if _, _, err := tree.Key(3, ApplicationRatchet, 1); err != nil {
		t.Fatal(err)
	}
	if !isZeroBytes(root) {
		t.Error("root secret not zeroed")
	}
	var held []treemath.NodeIndex
	for x := range tree.nodes {
		held = append(held, x)
	}
	if len(held) != 2 || tree.nodes[1] == nil || tree.nodes[4] == nil {
		t.Errorf("node secrets held: %v, want [1 4]", held)
	}
	app := &tree.leafSecrets[3].application
	if app.next != 2 || len(app.skipped) != 1 || app.skipped[0].generation != 0 {
		t.Errorf("application ratchet at %d with %d skipped", app.next, len(app.skipped))
	}
	if tree.leafSecrets[3].handshake.next != 0 {
		t.Error("handshake ratchet moved")
	}

	// Consuming a ratchet step zeroes the secret it came from.
	ar2 := app.secret
	k0, n0 := app.skipped[0].key, app.skipped[0].nonce
	if _, _, _, err := tree.NextKey(3, ApplicationRatchet); err != nil {
		t.Fatal(err)
	}
	if !isZeroBytes(ar2) {
		t.Error("consumed ratchet secret not zeroed")
	}
	// A skipped key handed out is no longer held by the tree.
	k, n, err := tree.Key(3, ApplicationRatchet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if &k[0] != &k0[0] || &n[0] != &n0[0] || len(app.skipped) != 0 {
		t.Error("skipped key still held after use")
	}

	// Deriving leaf 2 consumes node 4 (C) without touching node 1 (E).
	c := tree.nodes[4]
	if _, _, err := tree.Key(2, HandshakeRatchet, 0); err != nil {
		t.Fatal(err)
	}
	if !isZeroBytes(c) || tree.nodes[4] != nil || tree.nodes[1] == nil {
		t.Error("leaf secret not consumed when its ratchets started")
	}

	// Erase wipes everything left.
	e := tree.nodes[1]
	hr := tree.leafSecrets[3].handshake.secret
	tree.Erase()
	if !isZeroBytes(e) || !isZeroBytes(hr) || len(tree.nodes) != 0 || len(tree.leafSecrets) != 0 {
		t.Error("Erase left secrets")
	}
	if _, _, err := tree.Key(0, ApplicationRatchet, 0); err == nil {
		t.Error("erased tree still derives keys")
	}
}

func TestSecretTreeSize(t *testing.T) {
	tree := newTestTree(t, 50000, SecretTreeConfig{})
	if tree.LeafCount() != 65536 {
		t.Errorf("leaf count %d, want 65536", tree.LeafCount())
	}
	if len(tree.nodes) != 1 || len(tree.leafSecrets) != 0 {
		t.Error("a new tree holds more than its root")
	}
	for _, leaf := range []LeafIndex{0, 49999, 65535} {
		if _, _, _, err := tree.NextKey(leaf, ApplicationRatchet); err != nil {
			t.Errorf("leaf %d: %v", leaf, err)
		}
	}
	// Three paths of 16 levels: at most 16 siblings each.
	if len(tree.nodes) > 3*16 {
		t.Errorf("%d node secrets held after using 3 leaves", len(tree.nodes))
	}
	if _, _, _, err := tree.NextKey(65536, ApplicationRatchet); err == nil {
		t.Error("leaf outside the tree accepted")
	}
	if _, _, _, err := tree.NextKey(0, RatchetType(2)); err == nil {
		t.Error("unknown ratchet type accepted")
	}
	s := ksSuite(t)
	for _, n := range []uint32{0, 1<<31 + 1} {
		if _, err := NewSecretTree(s, make([]byte, s.HashSize()), n, SecretTreeConfig{}); err == nil {
			t.Errorf("tree of %d leaves accepted", n)
		}
	}
	if _, err := NewSecretTree(s, make([]byte, 5), 4, SecretTreeConfig{}); err == nil {
		t.Error("short encryption_secret accepted")
	}
	one := newTestTree(t, 1, SecretTreeConfig{})
	if _, _, _, err := one.NextKey(0, HandshakeRatchet); err != nil {
		t.Errorf("one-leaf tree: %v", err)
	}
}

func TestRatchetExhausted(t *testing.T) {
	tree := newTestTree(t, 1, SecretTreeConfig{})
	if _, _, _, err := tree.NextKey(0, ApplicationRatchet); err != nil {
		t.Fatal(err)
	}
	tree.leafSecrets[0].application.next = math.MaxUint32
	g, _, _, err := tree.NextKey(0, ApplicationRatchet)
	if err != nil || g != math.MaxUint32 {
		t.Fatalf("generation %d, %v", g, err)
	}
	if _, _, _, err := tree.NextKey(0, ApplicationRatchet); err == nil {
		t.Error("ratchet went past generation 2^32-1")
	}
	if _, _, err := tree.Key(0, ApplicationRatchet, math.MaxUint32); !errors.Is(err, ErrGenerationReused) {
		t.Errorf("last generation reused: %v", err)
	}
}

func TestSecretTreeConcurrent(t *testing.T) {
	tree := newTestTree(t, 64, SecretTreeConfig{})
	var wg sync.WaitGroup
	for leaf := range LeafIndex(64) {
		wg.Go(func() {
			for g := range uint32(20) {
				if _, _, err := tree.Key(leaf, ApplicationRatchet, g); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func TestSecretTreeNeverPrinted(t *testing.T) {
	tree := newTestTree(t, 2, SecretTreeConfig{})
	out := fmt.Sprintf("%v %+v %#v %s", tree, tree, tree, tree)
	if strings.Contains(out, "5a5a") || strings.Contains(out, "90 90") || !strings.Contains(out, "redacted") {
		t.Errorf("secret tree printed as %q", out)
	}
}

func TestSenderDataSample(t *testing.T) {
	s := ksSuite(t)
	secret := bytes.Repeat([]byte{3}, s.HashSize())
	ct := bytes.Repeat([]byte{0xab}, s.HashSize()+10)
	k1, n1, err := SenderDataKeyNonce(s, secret, ct)
	if err != nil {
		t.Fatal(err)
	}
	k2, n2, err := SenderDataKeyNonce(s, secret, ct[:s.HashSize()])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) || !bytes.Equal(n1, n2) {
		t.Error("bytes past the first Nh change the sender data key")
	}
	k3, _, err := SenderDataKeyNonce(s, secret, ct[:s.HashSize()-1])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(k1, k3) {
		t.Error("a shorter ciphertext gives the same sample")
	}
	if len(k1) != s.AEADKeySize() || len(n1) != s.AEADNonceSize() {
		t.Error("wrong key or nonce size")
	}
	if _, _, err := SenderDataKeyNonce(s, secret, nil); err != nil {
		t.Errorf("empty ciphertext: %v", err)
	}
}

// isZeroBytes reports whether b was a secret that has been zeroed.
func isZeroBytes(b []byte) bool { return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b) }

func BenchmarkNewSecretTree50000(b *testing.B) {
	s := ksSuite(b)
	secret := make([]byte, s.HashSize())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSecretTree(s, secret, 50000, SecretTreeConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchFirstKey measures a fresh epoch's first application key for one
// leaf of a 50,000-member tree: tree creation plus the path derivation.
func benchFirstKey(b *testing.B, leaf LeafIndex) {
	s := ksSuite(b)
	secret := make([]byte, s.HashSize())
	b.ReportAllocs()
	for b.Loop() {
		tree, err := NewSecretTree(s, secret, 50000, SecretTreeConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := tree.NextKey(leaf, ApplicationRatchet); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplicationKeyLeaf0(b *testing.B)     { benchFirstKey(b, 0) }
func BenchmarkApplicationKeyLeaf49999(b *testing.B) { benchFirstKey(b, 49999) }

// BenchmarkApplicationKeyNext measures one more key from a started ratchet.
func BenchmarkApplicationKeyNext(b *testing.B) {
	tree := newTestTree(b, 50000, SecretTreeConfig{})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := tree.NextKey(49999, ApplicationRatchet); err != nil {
			b.Fatal(err)
		}
	}
}
