package mls

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	"github.com/arbormls/mls/internal/treemath"
)

// This file holds the storage encoding of a SecretTree, part of the group
// state (see group_state.go). It keeps exactly what the tree holds after
// the deletion schedule of RFC 9420 section 9.2: the node secrets not yet
// consumed, and per leaf whose ratchets started the two ratchets with
// their position, their floor and their skipped keys. Consumed
// generations are implied by the position and the floor, so a replay is
// still rejected after a restore.

// marshalState writes t as SecretTreeState (see group_state.go). The
// bounds (maximum forward distance, skipped keys kept) are policy and come
// from the Config given at load.
func (t *SecretTree) marshalState(b *codec.Builder) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b.AddUint32(t.leafCount)
	b.AddVector(func(b *codec.Builder) {
		for _, x := range slices.Sorted(maps.Keys(t.nodes)) {
			b.AddUint32(uint32(x))
			b.AddOpaque(t.nodes[x])
		}
	})
	b.AddVector(func(b *codec.Builder) {
		for _, l := range slices.Sorted(maps.Keys(t.leafSecrets)) {
			lr := t.leafSecrets[l]
			b.AddUint32(uint32(l))
			lr.handshake.marshalState(b)
			lr.application.marshalState(b)
		}
	})
}

func (r *ratchet) marshalState(b *codec.Builder) {
	addOptionalSecret(b, r.secret)
	b.AddUint64(r.next)
	b.AddUint64(r.floor)
	b.AddVector(func(b *codec.Builder) {
		for _, k := range r.skipped {
			b.AddUint32(k.generation)
			b.AddOpaque(k.key)
			b.AddOpaque(k.nonce)
		}
	})
}

// unmarshalSecretTreeState reads what marshalState wrote, with the bounds
// of cfg. Skipped keys beyond cfg's window are dropped, oldest first, as
// the tree would have dropped them.
func unmarshalSecretTreeState(r *codec.Reader, s *ciphersuite.Suite, cfg SecretTreeConfig) *SecretTree {
	n := r.ReadUint32()
	if r.Err() != nil {
		return nil
	}
	if n == 0 || n > maxLeafCount || bits.OnesCount32(n) != 1 {
		r.SetError(fmt.Errorf("secret tree of %d leaves", n))
		return nil
	}
	t := &SecretTree{suite: s, kdf: kdfHashOf(s), leafCount: n, nodes: map[treemath.NodeIndex][]byte{}, leafSecrets: map[LeafIndex]*leafRatchets{}}
	t.maxForward, t.maxSkipped = secretTreeBounds(cfg)
	width := uint64(2*n - 1)
	last := int64(-1)
	r.ReadVectorFunc(func(r *codec.Reader) {
		x := r.ReadUint32()
		secret := readSecret(r, s.HashSize(), "secret tree node")
		if r.Err() != nil {
			return
		}
		if int64(x) <= last || uint64(x) >= width {
			clear(secret)
			r.SetError(fmt.Errorf("secret tree node %d out of order or outside the tree", x))
			return
		}
		last = int64(x)
		t.nodes[treemath.NodeIndex(x)] = secret
	})
	last = -1
	r.ReadVectorFunc(func(r *codec.Reader) {
		l := r.ReadUint32()
		if r.Err() == nil && (int64(l) <= last || l >= n) {
			r.SetError(fmt.Errorf("secret tree leaf %d out of order or outside the tree", l))
			return
		}
		last = int64(l)
		lr := &leafRatchets{}
		t.leafSecrets[LeafIndex(l)] = lr // before reading, so that Erase finds it on error
		lr.handshake.unmarshalState(r, s)
		lr.application.unmarshalState(r, s)
	})
	if r.Err() != nil {
		t.Erase()
		return nil
	}
	for _, lr := range t.leafSecrets {
		lr.handshake.trimSkipped(t.maxSkipped)
		lr.application.trimSkipped(t.maxSkipped)
	}
	return t
}

func (rt *ratchet) unmarshalState(r *codec.Reader, s *ciphersuite.Suite) {
	rt.secret = readOptionalSecret(r, s.HashSize(), "ratchet secret")
	rt.next = r.ReadUint64()
	rt.floor = r.ReadUint64()
	if r.Err() != nil {
		return
	}
	// A ratchet that used generation 2^32-1 sits at 2^32 without a secret.
	if rt.next > math.MaxUint32+1 || rt.floor > rt.next || (rt.secret != nil && rt.next > math.MaxUint32) {
		r.SetError(errors.New("ratchet position out of range"))
		return
	}
	// Skipped keys may lie below the floor: a jump past the window moves
	// the floor but keeps the keys skipped before.
	lowest := uint64(0)
	r.ReadVectorFunc(func(r *codec.Reader) {
		g := r.ReadUint32()
		key := readSecret(r, s.AEADKeySize(), "skipped key")
		nonce := readSecret(r, s.AEADNonceSize(), "skipped nonce")
		rt.skipped = append(rt.skipped, skippedKey{generation: g, key: key, nonce: nonce})
		if r.Err() == nil && (uint64(g) < lowest || uint64(g) >= rt.next) {
			r.SetError(fmt.Errorf("skipped generation %d out of order or outside the window", g))
		}
		lowest = uint64(g) + 1
	})
}

// trimSkipped drops the oldest skipped keys beyond max, as consume does.
func (rt *ratchet) trimSkipped(max int) {
	for len(rt.skipped) > max {
		old := rt.skipped[0]
		clear(old.key)
		clear(old.nonce)
		rt.skipped = rt.skipped[1:]
		rt.floor = uint64(old.generation) + 1
	}
}

// secretTreeBounds returns the bounds NewSecretTree derives from cfg.
func secretTreeBounds(cfg SecretTreeConfig) (maxForward uint32, maxSkipped int) {
	maxForward, maxSkipped = cfg.MaxForwardDistance, max(cfg.MaxSkippedKeys, 0)
	if maxForward == 0 {
		maxForward = DefaultMaxForwardDistance
	}
	if cfg.MaxSkippedKeys == 0 {
		maxSkipped = DefaultMaxSkippedKeys
	}
	return maxForward, maxSkipped
}
