package mls

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"fmt"
	"hash"
	"sync"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// Every PrivateMessage costs its sender and each receiver five
// ExpandWithLabel calls (RFC 9420 sections 6.3.2 and 9.1): the sender data
// key and nonce from sender_data_secret, and the content key and nonce and
// the next ratchet secret from one ratchet secret. Suite.ExpandWithLabel
// builds a new HMAC for each, some ten allocations and two hash blocks of
// keying every time. An expander hashes the padded HMAC key blocks once per
// secret (once per epoch for sender_data_secret, see hmacKey) and keeps the
// two hash states, as crypto/hmac does inside one object, so that each
// output then costs two hash blocks and no allocation. Unlike a
// crypto/hmac object, its key states are ours to zero.

// kdfHash is the hash function of an HKDF, with a pool of expanders.
type kdfHash struct {
	size      int
	blockSize int
	pool      sync.Pool // of *expander
}

// kdfHashes holds the KDFs of the suites (ciphersuite knows no others).
var kdfHashes = map[ciphersuite.KDF]*kdfHash{
	ciphersuite.KDFHKDFSHA256: newKDFHash(sha256.New),
	ciphersuite.KDFHKDFSHA384: newKDFHash(sha512.New384),
	ciphersuite.KDFHKDFSHA512: newKDFHash(sha512.New),
}

// newKDFHash returns the kdfHash of f, or nil if f's states cannot be
// saved and restored.
func newKDFHash(f func() hash.Hash) *kdfHash {
	h := f()
	if _, ok := h.(interface {
		encoding.BinaryAppender
		encoding.BinaryUnmarshaler
	}); !ok {
		return nil
	}
	k := &kdfHash{size: h.Size(), blockSize: h.BlockSize()}
	k.pool.New = func() any { return &expander{h: k, inner: f(), outer: f()} }
	return k
}

// kdfHashOf returns the KDF hash of s, or nil if it is not one an
// expander can key once (then expanders go through s.ExpandWithLabel).
// With the standard library's crypto (ciphersuite.StandardCrypto, which
// FIPS 140-3 mode implies) it is always nil: HKDF is then crypto/hkdf's,
// as ciphersuite keeps its own arithmetic out of that choice too.
func kdfHashOf(s *ciphersuite.Suite) *kdfHash {
	if ciphersuite.StandardCrypto() {
		return nil
	}
	h := kdfHashes[s.Spec().KDF]
	if h == nil || h.size != s.HashSize() {
		return nil
	}
	return h
}

// expander computes ExpandWithLabel(secret, label, context, length) for
// one secret after another. Get one with getExpander, give it a secret
// with setKey or loadKey, and release it after use, which zeroes its key.
// An expander is not safe for concurrent use.
type expander struct {
	s            *ciphersuite.Suite
	h            *kdfHash // nil: every call goes through s.ExpandWithLabel
	inner, outer hash.Hash
	// istate and ostate are the marshaled hash states after the key
	// blocks XORed with ipad and opad: the key, in effect.
	istate, ostate []byte
	secret         []byte // without h: the key, not a copy
	info, sum, t   []byte // scratch
	keys           []byte // see keyBuf
}

// getExpander returns an expander of suite s, whose KDF hash h is
// kdfHashOf(s).
func getExpander(s *ciphersuite.Suite, h *kdfHash) *expander {
	if h == nil {
		return &expander{s: s}
	}
	e := h.pool.Get().(*expander)
	e.s = s
	return e
}

// release zeroes the key and scratch of e and returns it to the pool.
func (e *expander) release() {
	e.secret = nil
	clear(e.keys)
	if e.h == nil {
		return
	}
	clear(e.istate)
	clear(e.ostate)
	clear(e.info)
	clear(e.sum)
	clear(e.t)
	// Reset puts the chaining values back to the initial ones.
	e.inner.Reset()
	e.outer.Reset()
	e.s = nil
	e.h.pool.Put(e)
}

// keyBuf returns a buffer of n bytes for AEAD keys and nonces used before
// e is released, which zeroes it: a pooled expander saves their
// allocation.
func (e *expander) keyBuf(n int) []byte {
	if cap(e.keys) < n {
		e.keys = make([]byte, n)
	}
	e.keys = e.keys[:n]
	return e.keys
}

// setKey makes secret the HMAC key of the expansions that follow. The
// caller keeps secret unchanged until then when the suite has no kdfHash.
func (e *expander) setKey(secret []byte) {
	if e.h == nil {
		e.secret = secret
		return
	}
	bs := e.h.blockSize
	if len(secret) > bs {
		// RFC 2104: a key longer than a block is hashed first.
		e.inner.Reset()
		e.inner.Write(secret)
		e.sum = e.inner.Sum(e.sum[:0])
		secret = e.sum
	}
	pad := append(e.info[:0], secret...)
	for len(pad) < bs {
		pad = append(pad, 0)
	}
	e.info = pad
	for i := range pad {
		pad[i] ^= 0x36
	}
	e.istate = absorbBlock(e.inner, pad, e.istate)
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	e.ostate = absorbBlock(e.outer, pad, e.ostate)
	clear(pad)
	clear(e.sum)
}

// absorbBlock hashes one block into a fresh h and appends its state to dst.
func absorbBlock(h hash.Hash, block, dst []byte) []byte {
	h.Reset()
	h.Write(block)
	dst, _ = h.(encoding.BinaryAppender).AppendBinary(dst[:0])
	return dst
}

// hmacKey is a secret prepared as the key of an expander once, for a
// secret used for many messages (sender_data_secret). Its zero value
// holds no key.
type hmacKey struct {
	istate, ostate []byte
	secret         []byte // without a kdfHash: a copy of the secret
}

// newHMACKey prepares secret (copied) as an expander key of suite s.
func newHMACKey(s *ciphersuite.Suite, h *kdfHash, secret []byte) hmacKey {
	if h == nil {
		return hmacKey{secret: append([]byte(nil), secret...)}
	}
	e := getExpander(s, h)
	defer e.release()
	e.setKey(secret)
	return hmacKey{istate: append([]byte(nil), e.istate...), ostate: append([]byte(nil), e.ostate...)}
}

// erase zeroes k.
func (k *hmacKey) erase() { erase(&k.istate, &k.ostate, &k.secret) }

// loadKey makes k the key of the expansions that follow.
func (e *expander) loadKey(k *hmacKey) {
	if e.h == nil {
		e.secret = k.secret
		return
	}
	e.istate = append(e.istate[:0], k.istate...)
	e.ostate = append(e.ostate[:0], k.ostate...)
}

// expand appends ExpandWithLabel(key, label, context, length) to dst:
// HKDF-Expand with info KDFLabel{length, "MLS 1.0 " + label, context}
// (RFC 9420 section 8).
func (e *expander) expand(dst []byte, label string, context []byte, length int) ([]byte, error) {
	if e.h == nil {
		if e.secret == nil {
			return nil, errSecretErased
		}
		out, err := e.s.ExpandWithLabel(e.secret, label, context, length)
		if err != nil {
			return nil, err
		}
		dst = append(dst, out...)
		clear(out)
		return dst, nil
	}
	if len(e.istate) == 0 {
		return nil, errSecretErased
	}
	fullLabel := len("MLS 1.0 ") + len(label)
	if length < 0 || length > 0xffff || length > 255*e.h.size || fullLabel >= 1<<30 || len(context) >= 1<<30 {
		return nil, fmt.Errorf("mls: cannot expand %d bytes with label %q and %d bytes of context", length, label, len(context))
	}
	info := append(e.info[:0], byte(length>>8), byte(length))
	info, _ = codec.AppendVarint(info, uint64(fullLabel)) // both below 2^30: checked above
	info = append(info, "MLS 1.0 "...)
	info = append(info, label...)
	info, _ = codec.AppendVarint(info, uint64(len(context)))
	info = append(info, context...)
	info = append(info, 0) // the HKDF block counter
	e.info = info
	u := e.inner.(encoding.BinaryUnmarshaler)
	v := e.outer.(encoding.BinaryUnmarshaler)
	// HKDF-Expand (RFC 5869): T(i) = HMAC(key, T(i-1) || info || i).
	want := len(dst) + length
	e.t = e.t[:0]
	for i := byte(1); len(dst) < want; i++ {
		info[len(info)-1] = i
		if err := u.UnmarshalBinary(e.istate); err != nil {
			return nil, err
		}
		e.inner.Write(e.t)
		e.inner.Write(info)
		e.sum = e.inner.Sum(e.sum[:0])
		if err := v.UnmarshalBinary(e.ostate); err != nil {
			return nil, err
		}
		e.outer.Write(e.sum)
		e.t = e.outer.Sum(e.t[:0])
		dst = append(dst, e.t[:min(len(e.t), want-len(dst))]...)
	}
	return dst, nil
}
