package ciphersuite

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/cloudflare/circl/sign/ed448"
	"golang.org/x/crypto/chacha20poly1305"
)

// A cipher suite combines a KEM, a KDF, an AEAD, a hash and a signature
// scheme. The types below name the algorithms Arbor implements, for
// applications that register suites under code points of their choosing
// (see Register), and for reporting (see Suites).

// KEM names an HPKE KEM together with the DeriveKeyPair convention of the
// implementations it interoperates with: MLS derives every tree key with
// DeriveKeyPair, so two KEMs that differ only there do not interoperate.
type KEM uint8

// The KEMs. The ML-KEM and hybrid KEMs without a suffix follow
// draft-ietf-hpke-pq (DeriveKeyPair by SHAKE256 LabeledDerive); the
// suffixed ones follow what OpenMLS and ts-mls shipped before it.
const (
	KEMDHKEMP256     KEM = iota + 1 // DHKEM(P-256, HKDF-SHA256), 0x0010
	KEMDHKEMP384                    // DHKEM(P-384, HKDF-SHA384), 0x0011
	KEMDHKEMP521                    // DHKEM(P-521, HKDF-SHA512), 0x0012
	KEMDHKEMX25519                  // DHKEM(X25519, HKDF-SHA256), 0x0020
	KEMDHKEMX448                    // DHKEM(X448, HKDF-SHA512), 0x0021
	KEMMLKEM512                     // ML-KEM-512, 0x0040
	KEMMLKEM768                     // ML-KEM-768, 0x0041
	KEMMLKEM1024                    // ML-KEM-1024, 0x0042
	KEMXWing                        // MLKEM768-X25519 (X-Wing), 0x647a
	KEMMLKEM768P256                 // MLKEM768-P256, 0x0050
	KEMMLKEM1024P384                // MLKEM1024-P384, 0x0051
	// KEMXWingOpenMLS is X-Wing as OpenMLS's XWingKemDraft6 runs it (hpke-rs
	// 0.3 to 0.6): HPKE KEM ID 0x004D, DeriveKeyPair = SHAKE256(ikm, 32).
	KEMXWingOpenMLS
	// The KEMs of ts-mls 1.6.4 (@hpke/ml-kem 0.3.0 and
	// @hpke/hybridkem-x-wing 0.7.0): standard KEM IDs; ML-KEM's
	// DeriveKeyPair takes a 64-byte ikm as the seed itself, X-Wing's is
	// SHAKE256(ikm, 32).
	KEMMLKEM512TSMLS
	KEMMLKEM768TSMLS
	KEMMLKEM1024TSMLS
	KEMXWingTSMLS
)

// KDF is an HPKE KDF (RFC 9180 section 7.2), by its HPKE ID. The suite's
// KDF is both HPKE's and MLS's (Extract, Expand, ExpandWithLabel).
type KDF uint16

// The KDFs.
const (
	KDFHKDFSHA256 KDF = 0x0001
	KDFHKDFSHA384 KDF = 0x0002
	KDFHKDFSHA512 KDF = 0x0003
)

// AEAD is an HPKE AEAD (RFC 9180 section 7.3), by its HPKE ID. The suite's
// AEAD is both HPKE's and MLS's message protection.
type AEAD uint16

// The AEADs.
const (
	AEADAES128GCM        AEAD = 0x0001
	AEADAES256GCM        AEAD = 0x0002
	AEADChaCha20Poly1305 AEAD = 0x0003
)

// Signature is a signature scheme, by its TLS SignatureScheme code point
// (RFC 9420 section 5.1.2).
type Signature uint16

// The signature schemes. ML-DSA is pure ML-DSA with an empty context
// (draft-ietf-tls-mldsa).
const (
	SignatureECDSAP256SHA256 Signature = 0x0403
	SignatureECDSAP384SHA384 Signature = 0x0503
	SignatureECDSAP521SHA512 Signature = 0x0603
	SignatureEd25519         Signature = 0x0807
	SignatureEd448           Signature = 0x0808
	SignatureMLDSA44         Signature = 0x0904
	SignatureMLDSA65         Signature = 0x0905
	SignatureMLDSA87         Signature = 0x0906
)

// algInfo is what every algorithm table entry holds besides the algorithm.
type algInfo struct {
	name string
	// notFIPS names the algorithm where the Go Cryptographic Module does
	// not approve it (X25519 alone, ChaCha20-Poly1305, what comes from
	// circl); empty means approved. See the README, "FIPS 140-3 mode".
	notFIPS string
}

func (a algInfo) info() algInfo { return a }

// nameOf returns the name of k in table, or unknown formatted with its
// number n (not with k, whose String method calls nameOf).
func nameOf[K comparable, E interface{ info() algInfo }](table map[K]E, k K, unknown string, n uint16) string {
	if e, ok := table[k]; ok {
		return e.info().name
	}
	return fmt.Sprintf(unknown, n)
}

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

func sha256New() hash.Hash { return sha256.New() }
func sha384New() hash.Hash { return sha512.New384() }
func sha512New() hash.Hash { return sha512.New() }

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
	kemX25519 = newDHKEM(0x0020, newX25519Group(), sha256New, 32, 32, false, 0)
	kemX448   = newDHKEM(0x0021, x448Group{}, sha512New, 56, 56, false, 0)
)

// The signature schemes of the RFC 9420 suites.
var (
	sigEd25519 signatureScheme = &eddsaScheme{
		label: "Ed25519", seedSize: ed25519.SeedSize, pubSize: ed25519.PublicKeySize,
		fromSeed:      func(seed []byte) []byte { return ed25519.NewKeyFromSeed(seed) },
		signFn:        func(key, msg []byte) []byte { return ed25519.Sign(key, msg) },
		verifyFn:      stdlibVerifyEd25519, // in FIPS 140-3 mode; elsewhere verifyLabeled
		verifyLabeled: ed25519LabeledVerifier(),
	}
	sigEd448 signatureScheme = &eddsaScheme{
		label: "Ed448", seedSize: ed448.SeedSize, pubSize: ed448.PublicKeySize,
		fromSeed: func(seed []byte) []byte { return ed448.NewKeyFromSeed(seed) },
		signFn:   func(key, msg []byte) []byte { return ed448.Sign(key, msg, "") },
		verifyFn: func(pub, msg, sig []byte) bool { return ed448.Verify(pub, msg, sig, "") },
	}
	sigP256 signatureScheme = &ecdsaScheme{label: "ECDSA P-256/SHA-256", curve: elliptic.P256(), hash: sha256New, hashID: crypto.SHA256}
	sigP384 signatureScheme = &ecdsaScheme{label: "ECDSA P-384/SHA-384", curve: elliptic.P384(), hash: sha384New, hashID: crypto.SHA384}
	sigP521 signatureScheme = &ecdsaScheme{label: "ECDSA P-521/SHA-512", curve: elliptic.P521(), hash: sha512New, hashID: crypto.SHA512}
)

type kemEntry struct {
	impl kem
	algInfo
}

var kems = map[KEM]kemEntry{
	KEMDHKEMP256:      {kemP256, algInfo{"DHKEM(P-256, HKDF-SHA256)", ""}},
	KEMDHKEMP384:      {kemP384, algInfo{"DHKEM(P-384, HKDF-SHA384)", ""}},
	KEMDHKEMP521:      {kemP521, algInfo{"DHKEM(P-521, HKDF-SHA512)", ""}},
	KEMDHKEMX25519:    {kemX25519, algInfo{"DHKEM(X25519, HKDF-SHA256)", "X25519 key agreement"}},
	KEMDHKEMX448:      {kemX448, algInfo{"DHKEM(X448, HKDF-SHA512)", "X448 key agreement"}},
	KEMMLKEM512:       {kemMLKEM512, algInfo{"ML-KEM-512", "ML-KEM-512 (circl)"}},
	KEMMLKEM768:       {kemMLKEM768, algInfo{"ML-KEM-768", ""}},
	KEMMLKEM1024:      {kemMLKEM1024, algInfo{"ML-KEM-1024", ""}},
	KEMXWing:          {kemXWing, algInfo{"MLKEM768-X25519 (X-Wing)", ""}},
	KEMMLKEM768P256:   {kemMLKEM768P256, algInfo{"MLKEM768-P256", ""}},
	KEMMLKEM1024P384:  {kemMLKEM1024P384, algInfo{"MLKEM1024-P384", ""}},
	KEMXWingOpenMLS:   {kemXWingOpenMLS, algInfo{"X-Wing (OpenMLS, KEM 0x004D)", ""}},
	KEMMLKEM512TSMLS:  {kemMLKEM512TSMLS, algInfo{"ML-KEM-512 (ts-mls)", "ML-KEM-512 (circl)"}},
	KEMMLKEM768TSMLS:  {kemMLKEM768TSMLS, algInfo{"ML-KEM-768 (ts-mls)", ""}},
	KEMMLKEM1024TSMLS: {kemMLKEM1024TSMLS, algInfo{"ML-KEM-1024 (ts-mls)", ""}},
	KEMXWingTSMLS:     {kemXWingTSMLS, algInfo{"X-Wing (ts-mls)", ""}},
}

type kdfEntry struct {
	hash crypto.Hash
	algInfo
}

var kdfs = map[KDF]kdfEntry{
	KDFHKDFSHA256: {crypto.SHA256, algInfo{"HKDF-SHA256", ""}},
	KDFHKDFSHA384: {crypto.SHA384, algInfo{"HKDF-SHA384", ""}},
	KDFHKDFSHA512: {crypto.SHA512, algInfo{"HKDF-SHA512", ""}},
}

type aeadEntry struct {
	scheme aeadScheme
	algInfo
}

var aeads = map[AEAD]aeadEntry{
	AEADAES128GCM:        {aesGCM(16, 0x0001), algInfo{"AES-128-GCM", ""}},
	AEADAES256GCM:        {aesGCM(32, 0x0002), algInfo{"AES-256-GCM", ""}},
	AEADChaCha20Poly1305: {aeadScheme{id: 0x0003, keySize: 32, nonceSize: 12, new: chacha20poly1305.New}, algInfo{"ChaCha20-Poly1305", "ChaCha20-Poly1305"}},
}

// hashes are the hashes a suite may name, with their constructors.
var hashes = map[crypto.Hash]func() hash.Hash{
	crypto.SHA256: sha256New,
	crypto.SHA384: sha384New,
	crypto.SHA512: sha512New,
}

type signatureEntry struct {
	scheme signatureScheme
	algInfo
}

var signatures = map[Signature]signatureEntry{
	SignatureECDSAP256SHA256: {sigP256, algInfo{"ecdsa_secp256r1_sha256", ""}},
	SignatureECDSAP384SHA384: {sigP384, algInfo{"ecdsa_secp384r1_sha384", ""}},
	SignatureECDSAP521SHA512: {sigP521, algInfo{"ecdsa_secp521r1_sha512", ""}},
	SignatureEd25519:         {sigEd25519, algInfo{"ed25519", ""}},
	SignatureEd448:           {sigEd448, algInfo{"ed448", "Ed448 (circl)"}},
	SignatureMLDSA44:         {sigMLDSA44, algInfo{"mldsa44", "ML-DSA (circl)"}},
	SignatureMLDSA65:         {sigMLDSA65, algInfo{"mldsa65", "ML-DSA (circl)"}},
	SignatureMLDSA87:         {sigMLDSA87, algInfo{"mldsa87", "ML-DSA (circl)"}},
}

// String returns the KEM's name.
func (k KEM) String() string { return nameOf(kems, k, "KEM(%d)", uint16(k)) }

// HPKEID returns the KEM's HPKE KEM ID, the one its HPKE suite_id carries,
// or 0 for an unknown KEM.
func (k KEM) HPKEID() uint16 {
	if e, ok := kems[k]; ok {
		return e.impl.id()
	}
	return 0
}

// String returns the KDF's name.
func (k KDF) String() string { return nameOf(kdfs, k, "KDF(0x%04x)", uint16(k)) }

// String returns the AEAD's name.
func (a AEAD) String() string { return nameOf(aeads, a, "AEAD(0x%04x)", uint16(a)) }

// String returns the signature scheme's TLS name.
func (s Signature) String() string { return nameOf(signatures, s, "Signature(0x%04x)", uint16(s)) }
