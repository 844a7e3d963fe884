package ciphersuite

import "os"

// Two implementations of the asymmetric crypto run Arbor's suites, chosen
// once per process from the environment variable MLS_CRYPTO:
//
//   - "fast" (the default, also when unset): Arbor's own code where it is
//     faster than the standard library's. Ed25519 verification with
//     half-size scalars (ed25519_verify.go) and batch verification
//     (batch.go, only behind mls.Config.BatchVerifyTree), X25519 as one
//     ladder on filippo.io/edwards25519's field with fixed-base public
//     keys (x25519.go), and the HPKE key schedule run here so that a
//     Welcome's large info is hashed once (hpke.go). Each is checked
//     against the standard library: differential tests and fuzz targets
//     (FuzzEd25519VerifyAgainstStdlib and the others in fuzz_test.go) that
//     CI runs on every change, plus the official MLS and HPKE vectors.
//   - "std": the standard library for everything it covers:
//     crypto/ed25519 verification, crypto/ecdh for X25519, crypto/hpke
//     for HPKE seal, open and export in every suite whose KEM it knows,
//     crypto/hkdf for the message-protection key derivations, and no batch
//     verification (BatchVerifyTree then verifies one signature at a
//     time). The code paths are those of FIPS 140-3 mode, which implies
//     "std", without its refusal of unapproved suites. Joins and commits of
//     large groups are slower (README, "Crypto implementation").
//
// Any other value of MLS_CRYPTO also selects "std": a mistyped setting
// falls on the side of the standard library. What is not covered by the
// standard library (X448, Ed448, ML-KEM-512 and ML-DSA from circl; X-Wing
// under OpenMLS's KEM ID, whose key schedule then runs on crypto/hkdf) is
// the same in both.

// stdCrypto is fixed at start-up, like fipsMode: suites built with one
// implementation must not meet keys or state of the other mid-run.
var stdCrypto = fipsMode || cryptoFromEnv(os.Getenv("MLS_CRYPTO"))

func cryptoFromEnv(v string) bool { return v != "" && v != "fast" }

// Implementation names the crypto implementation the process runs:
// "std" (the standard library's, MLS_CRYPTO=std or FIPS 140-3 mode) or
// "fast" (Arbor's own Ed25519 verification, X25519 and HPKE key
// schedule, the default). See the package documentation.
func Implementation() string {
	if stdCrypto {
		return "std"
	}
	return "fast"
}

// StandardCrypto reports whether the process runs the standard library's
// crypto (Implementation() == "std").
func StandardCrypto() bool { return stdCrypto }
