package ciphersuite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"slices"

	"github.com/cloudflare/circl/sign/ed448"
	"golang.org/x/crypto/chacha20poly1305"
)

// aeadScheme describes an AEAD by its sizes and constructor.
type aeadScheme struct {
	id        uint16 // HPKE AEAD ID (RFC 9180 section 7.3)
	keySize   int
	nonceSize int
	new       func(key []byte) (cipher.AEAD, error)
}

func aesGCM(keySize int, id uint16) aeadScheme {
	return aeadScheme{id: id, keySize: keySize, nonceSize: 12, new: func(key []byte) (cipher.AEAD, error) {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	}}
}

var (
	aeadAES128GCM = aesGCM(16, 0x0001)
	aeadAES256GCM = aesGCM(32, 0x0002)
	aeadChaCha20  = aeadScheme{id: 0x0003, keySize: 32, nonceSize: 12, new: chacha20poly1305.New}
)

func sha256New() hash.Hash { return sha256.New() }
func sha384New() hash.Hash { return sha512.New384() }
func sha512New() hash.Hash { return sha512.New() }

var suites = map[ID]*Suite{}

func register(s *Suite) { suites[s.id] = s }

// Lookup returns the suite with the given ID, or ErrUnsupportedSuite.
func Lookup(id ID) (*Suite, error) {
	s, ok := suites[id]
	if !ok {
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupportedSuite, uint16(id))
	}
	return s, nil
}

// IDs returns the IDs of every supported suite in ascending order.
func IDs() []ID {
	ids := make([]ID, 0, len(suites))
	for id := range suites {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// hpkeKDFs maps HPKE KDF IDs (RFC 9180 section 7.2) to their hash.
var hpkeKDFs = map[uint16]func() hash.Hash{
	0x0001: sha256New, // HKDF-SHA256
	0x0002: sha384New, // HKDF-SHA384
	0x0003: sha512New, // HKDF-SHA512
}

// The KEMs of RFC 9180 section 7.1 that the MLS suites use.
var (
	kemP256   = newDHKEM(0x0010, ecdhGroup{ecdh.P256()}, sha256New, 32, 65, true, 0xff)
	kemP384   = newDHKEM(0x0011, ecdhGroup{ecdh.P384()}, sha384New, 48, 97, true, 0xff)
	kemP521   = newDHKEM(0x0012, ecdhGroup{ecdh.P521()}, sha512New, 66, 133, true, 0x01)
	kemX25519 = newDHKEM(0x0020, ecdhGroup{ecdh.X25519()}, sha256New, 32, 32, false, 0)
	kemX448   = newDHKEM(0x0021, x448Group{}, sha512New, 56, 56, false, 0)
)

// The signature schemes of the MLS suites.
var (
	sigEd25519 signatureScheme = &eddsaScheme{
		label: "Ed25519", seedSize: ed25519.SeedSize, pubSize: ed25519.PublicKeySize,
		fromSeed: func(seed []byte) []byte { return ed25519.NewKeyFromSeed(seed) },
		signFn:   func(key, msg []byte) []byte { return ed25519.Sign(key, msg) },
		verifyFn: func(pub, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) },
	}
	sigEd448 signatureScheme = &eddsaScheme{
		label: "Ed448", seedSize: ed448.SeedSize, pubSize: ed448.PublicKeySize,
		fromSeed: func(seed []byte) []byte { return ed448.NewKeyFromSeed(seed) },
		signFn:   func(key, msg []byte) []byte { return ed448.Sign(key, msg, "") },
		verifyFn: func(pub, msg, sig []byte) bool { return ed448.Verify(pub, msg, sig, "") },
	}
	sigP256 signatureScheme = &ecdsaScheme{label: "ECDSA P-256/SHA-256", curve: elliptic.P256(), hash: sha256New}
	sigP384 signatureScheme = &ecdsaScheme{label: "ECDSA P-384/SHA-384", curve: elliptic.P384(), hash: sha384New}
	sigP521 signatureScheme = &ecdsaScheme{label: "ECDSA P-521/SHA-512", curve: elliptic.P521(), hash: sha512New}
)

// define registers a suite; kdfID is the HPKE KDF, whose hash is also the
// suite's hash in every RFC 9420 suite.
func define(id ID, name string, k kem, kdfID uint16, a aeadScheme, sig signatureScheme) {
	h := hpkeKDFs[kdfID]
	register(&Suite{
		id: id, name: name, hash: h, nh: h().Size(), aead: a, hpkeKDF: kdfID,
		hpke: newHPKESuite(k, kdfID, a), sig: sig,
	})
}

func init() {
	define(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", kemX25519, 0x0001, aeadAES128GCM, sigEd25519)
	define(MLS_128_DHKEMP256_AES128GCM_SHA256_P256, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", kemP256, 0x0001, aeadAES128GCM, sigP256)
	define(MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", kemX25519, 0x0001, aeadChaCha20, sigEd25519)
	define(MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", kemX448, 0x0003, aeadAES256GCM, sigEd448)
	define(MLS_256_DHKEMP521_AES256GCM_SHA512_P521, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", kemP521, 0x0003, aeadAES256GCM, sigP521)
	define(MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", kemX448, 0x0003, aeadChaCha20, sigEd448)
	define(MLS_256_DHKEMP384_AES256GCM_SHA384_P384, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", kemP384, 0x0002, aeadAES256GCM, sigP384)
}
