package mls

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/treemath"
)

// RatchetType selects one of the two hash ratchets of a leaf of the secret
// tree (RFC 9420 section 9).
type RatchetType uint8

const (
	// HandshakeRatchet protects proposals and commits.
	HandshakeRatchet RatchetType = iota
	// ApplicationRatchet protects application messages.
	ApplicationRatchet
)

func (rt RatchetType) String() string {
	switch rt {
	case HandshakeRatchet:
		return "handshake"
	case ApplicationRatchet:
		return "application"
	}
	return fmt.Sprintf("RatchetType(%d)", uint8(rt))
}

// Errors of the secret tree's receiver API, for callers that branch on them.
var (
	// ErrGenerationReused reports a generation whose key and nonce were
	// already consumed: a replay, or a sender reusing a generation.
	ErrGenerationReused = errors.New("mls: ratchet generation already used")
	// ErrGenerationTooFar reports a generation further ahead of the ratchet
	// than the configured maximum forward distance.
	ErrGenerationTooFar = errors.New("mls: ratchet generation too far ahead")
	// ErrGenerationExpired reports a skipped generation whose key was not
	// kept: it fell out of the out-of-order window.
	ErrGenerationExpired = errors.New("mls: ratchet generation outside the out-of-order window")
)

// Defaults of [SecretTreeConfig].
const (
	DefaultMaxForwardDistance = 1000
	DefaultMaxSkippedKeys     = 256
)

// SecretTreeConfig bounds what a receiver accepts and keeps. The zero value
// selects the defaults.
type SecretTreeConfig struct {
	// MaxForwardDistance is how many generations beyond a ratchet's current
	// one a received generation may be. 0 selects DefaultMaxForwardDistance.
	MaxForwardDistance uint32
	// MaxSkippedKeys is how many keys of skipped generations each ratchet
	// keeps for messages that arrive out of order; the oldest are dropped
	// first. 0 selects DefaultMaxSkippedKeys; a negative value keeps none.
	MaxSkippedKeys int
}

// maxLeafCount keeps node indices (2n-1 nodes) within uint32.
const maxLeafCount = 1 << 31

// SecretTree is the secret tree of one epoch (RFC 9420 section 9): node
// secrets derived on demand from encryption_secret, and per leaf a handshake
// and an application hash ratchet. It follows the deletion schedule of
// section 9.2: a parent secret is zeroed as soon as both children are
// derived, a leaf secret once its ratchets start, and each ratchet secret,
// key and nonce once used. Memory grows with the leaves actually used
// (O(log n) node secrets each), never with the size of the group.
//
// A SecretTree is safe for concurrent use.
type SecretTree struct {
	mu          sync.Mutex
	suite       *ciphersuite.Suite
	kdf         *kdfHash // kdfHashOf(suite)
	leafCount   uint32
	maxForward  uint32
	maxSkipped  int
	nodes       map[treemath.NodeIndex][]byte
	leafSecrets map[LeafIndex]*leafRatchets
}

type leafRatchets struct {
	handshake, application ratchet
}

// ratchet is one hash ratchet. secret is ratchet_secret_[next]; next is
// uint64 so that a ratchet that used generation 2^32-1 has somewhere to go.
type ratchet struct {
	secret []byte
	next   uint64
	// floor: every generation below it that is not in skipped was either
	// consumed or dropped from the window; generations from floor to next
	// that are not in skipped were consumed.
	floor   uint64
	skipped []skippedKey // ascending generation
}

type skippedKey struct {
	generation uint32
	key, nonce []byte
}

// NewSecretTree returns the secret tree of an epoch from its
// encryption_secret (copied; the caller erases its own copy) and the number
// of leaves of the ratchet tree. leafCount is rounded up to a power of two,
// as the ratchet tree always is (RFC 9420 section 7.7).
func NewSecretTree(s *ciphersuite.Suite, encryptionSecret []byte, leafCount uint32, cfg SecretTreeConfig) (*SecretTree, error) {
	if len(encryptionSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls: encryption_secret is %d bytes, want %d", len(encryptionSecret), s.HashSize())
	}
	if leafCount == 0 || leafCount > maxLeafCount {
		return nil, fmt.Errorf("mls: secret tree of %d leaves", leafCount)
	}
	n := uint32(1) << bits.Len32(leafCount-1)
	t := &SecretTree{
		suite:       s,
		kdf:         kdfHashOf(s),
		leafCount:   n,
		maxForward:  cfg.MaxForwardDistance,
		maxSkipped:  max(cfg.MaxSkippedKeys, 0),
		nodes:       map[treemath.NodeIndex][]byte{treemath.Root(n): append([]byte(nil), encryptionSecret...)},
		leafSecrets: map[LeafIndex]*leafRatchets{},
	}
	if t.maxForward == 0 {
		t.maxForward = DefaultMaxForwardDistance
	}
	if cfg.MaxSkippedKeys == 0 {
		t.maxSkipped = DefaultMaxSkippedKeys
	}
	return t, nil
}

// LeafCount returns the number of leaves of the tree (a power of two).
func (t *SecretTree) LeafCount() uint32 { return t.leafCount }

// NextKey is the sender's side: it returns the key and nonce of the next
// unused generation of leaf's ratchet, and advances the ratchet so that they
// are never handed out again. The caller owns key and nonce and should zero
// them after use.
func (t *SecretTree) NextKey(leaf LeafIndex, rt RatchetType) (generation uint32, key, nonce []byte, err error) {
	return t.nextKey(leaf, rt, nil)
}

// nextKey is NextKey with key and nonce written to mem when it has room
// for both (see keyNonce).
func (t *SecretTree) nextKey(leaf LeafIndex, rt RatchetType, mem []byte) (generation uint32, key, nonce []byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.expander()
	defer e.release()
	r, err := t.ratchet(e, leaf, rt)
	if err != nil {
		return 0, nil, nil, err
	}
	generation = uint32(r.next)
	key, nonce, err = r.step(e, mem)
	return generation, key, nonce, err
}

// Key is the receiver's side: it returns the key and nonce of generation of
// leaf's ratchet and consumes them, so a second call for the same
// generation fails with ErrGenerationReused. A generation ahead of the
// ratchet advances it, keeping the skipped keys (up to the configured
// window) for messages that arrive out of order; one more than the maximum
// forward distance ahead fails with ErrGenerationTooFar.
//
// Key consumes the generation before the caller knows whether the message
// decrypts; receivers of untrusted messages use PeekKey and ConsumeKey
// instead, so that a forged message cannot burn a generation.
func (t *SecretTree) Key(leaf LeafIndex, rt RatchetType, generation uint32) (key, nonce []byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.expander()
	defer e.release()
	r, err := t.ratchet(e, leaf, rt)
	if err != nil {
		return nil, nil, err
	}
	return t.consume(e, r, generation, true)
}

// PeekKey returns the key and nonce of generation of leaf's ratchet without
// consuming them: it fails exactly when Key would, but leaves the ratchet
// as it was. Once the message they protect has decrypted and verified, the
// caller consumes the generation with ConsumeKey. The caller owns key and
// nonce and should zero them after use.
func (t *SecretTree) PeekKey(leaf LeafIndex, rt RatchetType, generation uint32) (key, nonce []byte, err error) {
	return t.peekKey(leaf, rt, generation, nil)
}

// peekKey is PeekKey with key and nonce written to mem when it has room
// for both (see keyNonce).
func (t *SecretTree) peekKey(leaf LeafIndex, rt RatchetType, generation uint32, mem []byte) (key, nonce []byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.expander()
	defer e.release()
	r, err := t.ratchet(e, leaf, rt)
	if err != nil {
		return nil, nil, err
	}
	g := uint64(generation)
	if g < r.next {
		i, err := r.findSkipped(generation)
		if err != nil {
			return nil, nil, err
		}
		// Copies: ConsumeKey zeroes the kept ones.
		k := r.skipped[i]
		if cap(mem) < len(k.key)+len(k.nonce) {
			mem = make([]byte, 0, len(k.key)+len(k.nonce))
		}
		mem = append(append(mem[:0], k.key...), k.nonce...)
		return mem[:len(k.key):len(k.key)], mem[len(k.key):], nil
	}
	if err := t.checkForward(r, g); err != nil {
		return nil, nil, err
	}
	if r.secret == nil {
		return nil, nil, errRatchetGone
	}
	// Walk a copy of the ratchet secret forward; the ratchet itself moves
	// only in ConsumeKey.
	secret := r.secret
	for j := r.next; j < g; j++ {
		e.setKey(secret)
		next, err := e.expand(nil, "secret", generationContext(uint32(j)), t.suite.HashSize())
		if j > r.next {
			clear(secret)
		}
		if err != nil {
			return nil, nil, err
		}
		secret = next
	}
	if g > r.next {
		defer clear(secret)
	}
	e.setKey(secret)
	return e.keyNonce(mem, generationContext(generation))
}

// ConsumeKey marks generation of leaf's ratchet as used, exactly as Key
// does, without deriving its key again. It fails with ErrGenerationReused if
// the generation was consumed meanwhile (a replay processed concurrently),
// in which case the message must be rejected.
func (t *SecretTree) ConsumeKey(leaf LeafIndex, rt RatchetType, generation uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.expander()
	defer e.release()
	r, err := t.ratchet(e, leaf, rt)
	if err != nil {
		return err
	}
	_, _, err = t.consume(e, r, generation, false)
	return err
}

// checkForward rejects a generation more than the maximum forward distance
// ahead of r.
func (t *SecretTree) checkForward(r *ratchet, g uint64) error {
	if g-r.next > uint64(t.maxForward) {
		return fmt.Errorf("%w: generation %d, ratchet at %d", ErrGenerationTooFar, g, r.next)
	}
	return nil
}

// consume uses up generation of r: a kept skipped key, or the ratchet moved
// past it (keeping the keys it skips, within the window). The key and nonce
// are derived and returned only if wantKey.
func (t *SecretTree) consume(e *expander, r *ratchet, generation uint32, wantKey bool) (key, nonce []byte, err error) {
	g := uint64(generation)
	if g < r.next {
		i, err := r.findSkipped(generation)
		if err != nil {
			return nil, nil, err
		}
		k := r.skipped[i]
		r.skipped = slices.Delete(r.skipped, i, i+1) // also clears the stale tail entry
		if !wantKey {
			clear(k.key)
			clear(k.nonce)
			return nil, nil, nil
		}
		return k.key, k.nonce, nil
	}
	if err := t.checkForward(r, g); err != nil {
		return nil, nil, err
	}
	for r.next < g {
		if g-r.next > uint64(t.maxSkipped) {
			// Out of the window anyway: ratchet the secret without
			// deriving a key that would be dropped at once.
			if err := r.advance(e); err != nil {
				return nil, nil, err
			}
			r.floor = r.next
			continue
		}
		skippedGen := uint32(r.next)
		k, n, err := r.step(e, nil)
		if err != nil {
			return nil, nil, err
		}
		r.skipped = append(r.skipped, skippedKey{skippedGen, k, n})
		if len(r.skipped) > t.maxSkipped {
			old := r.skipped[0]
			clear(old.key)
			clear(old.nonce)
			r.skipped = r.skipped[1:]
			r.floor = uint64(old.generation) + 1
		}
	}
	if !wantKey {
		return nil, nil, r.advance(e)
	}
	return r.step(e, nil)
}

// Erase zeroes every secret the tree still holds, as when its epoch is dropped.
func (t *SecretTree) Erase() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for x, s := range t.nodes {
		clear(s)
		delete(t.nodes, x)
	}
	for l, lr := range t.leafSecrets {
		lr.handshake.erase()
		lr.application.erase()
		delete(t.leafSecrets, l)
	}
}

// String describes the tree without revealing any secret.
func (t *SecretTree) String() string {
	return fmt.Sprintf("mls.SecretTree(%d leaves, redacted)", t.leafCount)
}

// GoString keeps %#v from printing secrets.
func (t *SecretTree) GoString() string { return t.String() }

// expander returns an expander of the tree's suite; release it after use.
func (t *SecretTree) expander() *expander { return getExpander(t.suite, t.kdf) }

// ratchet returns leaf's ratchet of type rt, deriving the leaf secret (and
// the node secrets above it, with e) the first time the leaf is used.
func (t *SecretTree) ratchet(e *expander, leaf LeafIndex, rt RatchetType) (*ratchet, error) {
	if rt != HandshakeRatchet && rt != ApplicationRatchet {
		return nil, fmt.Errorf("mls: unknown ratchet type %d", uint8(rt))
	}
	if uint32(leaf) >= t.leafCount {
		return nil, fmt.Errorf("mls: leaf %d outside a secret tree of %d leaves", leaf, t.leafCount)
	}
	lr, ok := t.leafSecrets[leaf]
	if !ok {
		var err error
		if lr, err = t.startLeaf(e, leaf); err != nil {
			return nil, err
		}
	}
	if rt == HandshakeRatchet {
		return &lr.handshake, nil
	}
	return &lr.application, nil
}

// startLeaf derives leaf's secret from its lowest ancestor still held,
// deleting each parent as both its children are derived, then starts the
// leaf's ratchets and deletes the leaf secret.
func (t *SecretTree) startLeaf(e *expander, leaf LeafIndex) (*leafRatchets, error) {
	nh := t.suite.HashSize()
	target := leaf.NodeIndex()
	x := target
	for {
		if _, ok := t.nodes[x]; ok {
			break
		}
		p, ok := treemath.Parent(x, t.leafCount)
		if !ok {
			return nil, errors.New("mls: secret tree already erased")
		}
		x = p
	}
	for x != target {
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		secret := t.nodes[x]
		e.setKey(secret)
		ls, err := e.expand(nil, "tree", []byte("left"), nh)
		if err != nil {
			return nil, err
		}
		rs, err := e.expand(nil, "tree", []byte("right"), nh)
		if err != nil {
			clear(ls)
			return nil, err
		}
		clear(secret)
		delete(t.nodes, x)
		t.nodes[l], t.nodes[r] = ls, rs
		if treemath.IsAncestor(l, target) {
			x = l
		} else {
			x = r
		}
	}
	secret := t.nodes[target]
	e.setKey(secret)
	hs, err := e.expand(nil, "handshake", nil, nh)
	if err != nil {
		return nil, err
	}
	as, err := e.expand(nil, "application", nil, nh)
	if err != nil {
		clear(hs)
		return nil, err
	}
	clear(secret)
	delete(t.nodes, target)
	lr := &leafRatchets{handshake: ratchet{secret: hs}, application: ratchet{secret: as}}
	t.leafSecrets[leaf] = lr
	return lr, nil
}

// step derives the key and nonce of generation r.next, then moves the
// ratchet to the next generation, zeroing the consumed secret. The three
// derivations share one keying of e. key and nonce are written to mem if
// it has room for both (see keyNonce).
func (r *ratchet) step(e *expander, mem []byte) (key, nonce []byte, err error) {
	if r.secret == nil {
		return nil, nil, errRatchetGone
	}
	e.setKey(r.secret)
	if key, nonce, err = e.keyNonce(mem, generationContext(uint32(r.next))); err != nil {
		return nil, nil, err
	}
	if err = r.advanceKeyed(e); err != nil {
		clear(key)
		clear(nonce)
		return nil, nil, err
	}
	return key, nonce, nil
}

// advance replaces ratchet_secret_[j] with ratchet_secret_[j+1].
func (r *ratchet) advance(e *expander) error {
	if r.secret == nil {
		return errRatchetGone
	}
	e.setKey(r.secret)
	return r.advanceKeyed(e)
}

// advanceKeyed is advance once e holds r.secret as its key.
func (r *ratchet) advanceKeyed(e *expander) error {
	g := uint32(r.next)
	var next []byte
	if g < math.MaxUint32 {
		var err error
		if next, err = e.expand(nil, "secret", generationContext(g), e.s.HashSize()); err != nil {
			return err
		}
	}
	clear(r.secret)
	r.secret = next
	r.next++
	return nil
}

// generationContext is the context of DeriveTreeSecret: the generation as
// a big-endian uint32 (RFC 9420 section 9).
func generationContext(generation uint32) []byte {
	return []byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
}

// keyNonce derives an AEAD key and nonce from the secret e holds:
// ExpandWithLabel(secret, "key", context, Nk) and
// ExpandWithLabel(secret, "nonce", context, Nn). The ratchets, the sender
// data and the Welcome all derive theirs this way. They are written to mem
// if it has room for both (the caller then zeroes it), else to one new
// allocation.
func (e *expander) keyNonce(mem, context []byte) (key, nonce []byte, err error) {
	nk, nn := e.s.AEADKeySize(), e.s.AEADNonceSize()
	if cap(mem) < nk+nn {
		mem = make([]byte, 0, nk+nn)
	}
	buf, err := e.expand(mem[:0], "key", context, nk)
	if err == nil {
		buf, err = e.expand(buf, "nonce", context, nn)
	}
	if err != nil {
		clear(mem[:cap(mem)])
		return nil, nil, err
	}
	return buf[:nk:nk], buf[nk:], nil
}

// expandKeyNonce is keyNonce keyed with secret.
func expandKeyNonce(s *ciphersuite.Suite, secret, context []byte) (key, nonce []byte, err error) {
	e := getExpander(s, kdfHashOf(s))
	defer e.release()
	e.setKey(secret)
	return e.keyNonce(nil, context)
}

// errRatchetGone is returned by a ratchet whose secret is gone: it used its
// last generation, or was erased.
var errRatchetGone = errors.New("mls: ratchet exhausted or erased")

// findSkipped returns the position in r.skipped of the kept key of an
// earlier generation, or why there is none.
func (r *ratchet) findSkipped(generation uint32) (int, error) {
	for i, k := range r.skipped {
		if k.generation == generation {
			return i, nil
		}
	}
	if uint64(generation) < r.floor {
		return 0, fmt.Errorf("%w: generation %d", ErrGenerationExpired, generation)
	}
	return 0, fmt.Errorf("%w: generation %d", ErrGenerationReused, generation)
}

func (r *ratchet) erase() {
	clear(r.secret)
	r.secret = nil
	for _, k := range r.skipped {
		clear(k.key)
		clear(k.nonce)
	}
	r.skipped = nil
}

// SenderDataKeyNonce derives the key and nonce that protect a
// PrivateMessage's sender data (RFC 9420 section 6.3.2) from
// sender_data_secret and the content ciphertext, of which the first Nh bytes
// (or all, if shorter) are the sample.
func SenderDataKeyNonce(s *ciphersuite.Suite, senderDataSecret, ciphertext []byte) (key, nonce []byte, err error) {
	return expandKeyNonce(s, senderDataSecret, senderDataSample(s, ciphertext))
}

// senderDataSample returns the ciphertext sample of RFC 9420 section 6.3.2.
func senderDataSample(s *ciphersuite.Suite, ciphertext []byte) []byte {
	return ciphertext[:min(len(ciphertext), s.HashSize())]
}
