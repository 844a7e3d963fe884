package ciphersuite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"slices"

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

func init() {
	// KEM and signature schemes are filled in by asym.go.
	register(&Suite{id: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, name: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", hash: sha256New, nh: 32, aead: aeadAES128GCM, hpkeKDF: 0x0001})
	register(&Suite{id: MLS_128_DHKEMP256_AES128GCM_SHA256_P256, name: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", hash: sha256New, nh: 32, aead: aeadAES128GCM, hpkeKDF: 0x0001})
	register(&Suite{id: MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519, name: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", hash: sha256New, nh: 32, aead: aeadChaCha20, hpkeKDF: 0x0001})
	register(&Suite{id: MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448, name: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", hash: sha512New, nh: 64, aead: aeadAES256GCM, hpkeKDF: 0x0003})
	register(&Suite{id: MLS_256_DHKEMP521_AES256GCM_SHA512_P521, name: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", hash: sha512New, nh: 64, aead: aeadAES256GCM, hpkeKDF: 0x0003})
	register(&Suite{id: MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448, name: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", hash: sha512New, nh: 64, aead: aeadChaCha20, hpkeKDF: 0x0003})
	register(&Suite{id: MLS_256_DHKEMP384_AES256GCM_SHA384_P384, name: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", hash: sha384New, nh: 48, aead: aeadAES256GCM, hpkeKDF: 0x0002})
}
