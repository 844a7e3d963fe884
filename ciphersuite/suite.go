// Package ciphersuite implements the MLS cipher suites of RFC 9420 section
// 5.1 and the labeled cryptographic functions built on them: SignWithLabel,
// VerifyWithLabel, EncryptWithLabel, DecryptWithLabel, ExpandWithLabel,
// DeriveSecret, DeriveTreeSecret and RefHash.
//
// Besides the seven RFC 9420 suites it implements the post-quantum suites of
// draft-ietf-mls-pq-ciphersuites (ML-KEM, the X-Wing, P-256 and P-384
// hybrids, ML-DSA) and those OpenMLS and ts-mls ship. Their code points are
// not assigned yet and the implementations disagree on them, so the table
// from code points to suites is chosen by profile ([UseProfile],
// [ProfileFromEnv]) and extended with [Register]. In FIPS 140-3 mode
// (GODEBUG=fips140=on) [Lookup] offers only the suites whose algorithms the
// Go Cryptographic Module approves.
//
// A [Suite] is looked up by its [ID]; an unknown ID is an error, never a panic.
// Keys travel as bytes in the encodings of RFC 9420: HPKE private keys in
// SerializePrivateKey form (RFC 9180; the 64-byte seed for ML-KEM, the
// 32-byte seed for the hybrids), signature private keys as the raw EdDSA
// seed, the big-endian ECDSA scalar or the 32-byte ML-DSA seed, public keys
// raw (ECDSA: uncompressed SEC1 points). A signature key may instead stay
// in a crypto.Signer (an HSM, a KMS, a keystore): [Suite.SigningKeyFromSigner].
//
// # Crypto implementation
//
// The environment variable MLS_CRYPTO chooses, once per process, who runs
// the asymmetric crypto. "fast" (the default) runs Arbor's own Ed25519
// verification (half-size scalars, and batch verification when asked
// for), its X25519 ladder with fixed-base public keys, and its HPKE key
// schedule, which hashes a Welcome's large info once for all recipients.
// "std" (or any other value) runs the standard library for everything it
// covers: crypto/ed25519, crypto/ecdh, crypto/hpke and crypto/hkdf, and no
// batch verification. FIPS 140-3 mode implies "std". [Implementation]
// reports the choice. Both give the same bytes on the wire and in storage;
// the fast code is checked against the standard library by differential
// tests and fuzz targets that CI runs on every change, and CI runs the
// vectors and the group tests under both. The details are in impl.go.
package ciphersuite

import (
	"crypto/hkdf"
	"crypto/hmac"
	"errors"
	"fmt"
	"hash"

	"github.com/arbormls/mls/internal/codec"
)

// ID is an MLS cipher suite code point (RFC 9420 section 17.1).
type ID uint16

// The cipher suites of RFC 9420.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        ID = 0x0001
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             ID = 0x0002
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 ID = 0x0003
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            ID = 0x0004
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             ID = 0x0005
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     ID = 0x0006
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             ID = 0x0007
)

// ErrUnsupportedSuite is returned for a cipher suite ID this build does not know.
var ErrUnsupportedSuite = errors.New("ciphersuite: unsupported cipher suite")

// ErrVerification is returned when a signature does not verify.
var ErrVerification = errors.New("ciphersuite: signature verification failed")

// ErrDecryption is returned when an AEAD or HPKE ciphertext does not open.
var ErrDecryption = errors.New("ciphersuite: decryption failed")

// String returns the name of the suite registered under id, FIPS-approved
// or not, or "unknown(0x....)".
func (id ID) String() string {
	if s := current.Load().suites[id]; s != nil {
		return s.name
	}
	return fmt.Sprintf("unknown(0x%04x)", uint16(id))
}

// Suite is one cipher suite. It is immutable and safe for concurrent use.
type Suite struct {
	id   ID
	name string
	spec Spec
	// hash is MLS's hash (transcripts, RefHash, MAC); kdfHash is the KDF's,
	// whose output size nh is KDF.Nh.
	hash    func() hash.Hash
	kdfHash func() hash.Hash
	nh      int
	aead    aeadScheme
	// hpke is the HPKE suite: the KEM with the suite's KDF and AEAD.
	hpke *hpkeSuite
	sig  signatureScheme
	// notFIPS names the suite's algorithms the Go Cryptographic Module
	// does not approve; nil when it approves them all.
	notFIPS []string
}

// ID returns the suite's code point.
func (s *Suite) ID() ID { return s.id }

// Name returns the suite's name (IANA's, or its defining implementation's).
func (s *Suite) Name() string { return s.name }

// Hash returns the suite's hash of data.
func (s *Suite) Hash(data []byte) []byte {
	h := s.hash()
	h.Write(data)
	return h.Sum(nil)
}

// NewHash returns a fresh instance of the suite's hash function.
func (s *Suite) NewHash() hash.Hash { return s.hash() }

// HashSize is KDF.Nh, the output size of KDF.Extract and so the size of
// every key schedule and tree secret. It is also the output size of Hash in
// every RFC 9420 and draft suite; DigestSize gives that where they differ.
func (s *Suite) HashSize() int { return s.nh }

// DigestSize is the output size of Hash, RefHash and MAC. It differs from
// HashSize in ts-mls's suites 77 to 80, which pair HKDF-SHA512 with SHA-256
// or SHA-384.
func (s *Suite) DigestSize() int { return s.spec.Hash.Size() }

// Extract is KDF.Extract (HKDF-Extract).
func (s *Suite) Extract(salt, ikm []byte) ([]byte, error) {
	if len(salt) == 0 {
		salt = make([]byte, s.nh)
	}
	return hkdf.Extract(s.kdfHash, ikm, salt)
}

// Expand is KDF.Expand (HKDF-Expand).
func (s *Suite) Expand(prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.nh {
		return nil, fmt.Errorf("ciphersuite: expand length %d out of range", length)
	}
	return hkdf.Expand(s.kdfHash, prk, string(info), length)
}

// ExpandWithLabel is RFC 9420 section 8's labeled HKDF-Expand.
func (s *Suite) ExpandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 0xffff {
		return nil, fmt.Errorf("ciphersuite: expand length %d out of range", length)
	}
	b := codec.NewBuilder(2 + 10 + len(label) + 4 + len(context))
	b.AddUint16(uint16(length))
	b.AddVarint(uint64(len("MLS 1.0 ") + len(label)))
	b.AddRaw([]byte("MLS 1.0 "))
	b.AddRaw([]byte(label))
	b.AddOpaque(context)
	info, err := b.Bytes()
	if err != nil {
		return nil, err
	}
	return s.Expand(secret, info, length)
}

// DeriveSecret is ExpandWithLabel(secret, label, "", Nh).
func (s *Suite) DeriveSecret(secret []byte, label string) ([]byte, error) {
	return s.ExpandWithLabel(secret, label, nil, s.nh)
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, generation, length)
// with the generation as a big-endian uint32 (RFC 9420 section 9).
func (s *Suite) DeriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	ctx := []byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.ExpandWithLabel(secret, label, ctx, length)
}

// RefHash is Hash(RefHashInput{label, value}) (RFC 9420 section 5.2).
func (s *Suite) RefHash(label string, value []byte) []byte {
	h := s.hash()
	var hdr [4]byte
	// Lengths from 2^30 on have no varint; nothing decoded is that long.
	lh, _ := codec.AppendVarint(hdr[:0], uint64(len(label)))
	h.Write(lh)
	h.Write([]byte(label))
	vh, _ := codec.AppendVarint(hdr[:0], uint64(len(value)))
	h.Write(vh)
	h.Write(value)
	return h.Sum(nil)
}

// MakeKeyPackageRef returns the KeyPackageRef of an encoded KeyPackage.
func (s *Suite) MakeKeyPackageRef(keyPackage []byte) []byte {
	return s.RefHash("MLS 1.0 KeyPackage Reference", keyPackage)
}

// MakeProposalRef returns the ProposalRef of an encoded AuthenticatedContent.
func (s *Suite) MakeProposalRef(authenticatedContent []byte) []byte {
	return s.RefHash("MLS 1.0 Proposal Reference", authenticatedContent)
}

// MAC is HMAC with the suite's hash.
func (s *Suite) MAC(key, data []byte) []byte {
	m := hmac.New(s.hash, key)
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC checks tag against MAC(key, data) in constant time.
func (s *Suite) VerifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(s.MAC(key, data), tag)
}

// AEADKeySize is Nk of the suite's AEAD.
func (s *Suite) AEADKeySize() int { return s.aead.keySize }

// AEADNonceSize is Nn of the suite's AEAD.
func (s *Suite) AEADNonceSize() int { return s.aead.nonceSize }

// Seal encrypts and authenticates plaintext with the suite's AEAD.
func (s *Suite) Seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	a, err := s.aead.new(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, errors.New("ciphersuite: wrong nonce size")
	}
	return a.Seal(nil, nonce, plaintext, aad), nil
}

// Open authenticates and decrypts ciphertext with the suite's AEAD.
func (s *Suite) Open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	a, err := s.aead.new(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, errors.New("ciphersuite: wrong nonce size")
	}
	pt, err := a.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecryption
	}
	return pt, nil
}
