package ciphersuite

import (
	"crypto"
	"crypto/fips140"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// The suite table maps code points to suites. It starts as the default
// profile; UseProfile swaps in another profile and Register adds to it.
// Lookup reads it without locking: writers build a new table and publish it
// atomically, so a *Suite once returned stays valid and immutable.

// Spec describes a cipher suite without its code point.
type Spec struct {
	// Name is the suite's name, as IANA or its defining implementation
	// spells it (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519).
	Name string
	KEM  KEM
	// KDF serves both HPKE and MLS (Extract, Expand, DeriveSecret).
	KDF KDF
	// AEAD serves both HPKE and MLS message protection.
	AEAD AEAD
	// Hash is MLS's hash: transcript hashes, RefHash, MAC. It is the KDF's
	// hash in every RFC 9420 and draft suite but not in all of ts-mls's.
	Hash      crypto.Hash
	Signature Signature
}

// SuiteInfo describes a registered suite.
type SuiteInfo struct {
	ID ID
	Spec
	// FIPSApproved reports whether every algorithm of the suite is
	// approved by the Go Cryptographic Module; in FIPS 140-3 mode Lookup
	// refuses the suites for which it is false.
	FIPSApproved bool
}

// The profile names UseProfile accepts.
const (
	// ProfileDefault is the table Arbor starts with: the RFC 9420 suites,
	// OpenMLS's X-Wing suite at 0x004D, and the suites of
	// draft-ietf-mls-pq-ciphersuites-06 at the private-use code points
	// 0xF001 to 0xF00B (TBD1 to TBD11 in the draft's order).
	ProfileDefault = "default"
	// ProfileRFC is the RFC 9420 suites 0x0001 to 0x0007 alone.
	ProfileRFC = "rfc"
	// ProfileOpenMLS is the table OpenMLS uses: the RFC suites and
	// MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519 at 0x004D.
	ProfileOpenMLS = "openmls"
	// ProfileTSMLS is the table ts-mls 1.6.4 uses: the RFC suites and its
	// post-quantum suites at 77 (0x004D) to 88 (0x0058).
	ProfileTSMLS = "ts-mls"
	// ProfileTSMLS2 is the table ts-mls 2.0 uses: the RFC suites and the
	// post-quantum suites of ProfileTSMLS, in the same order, at 0xF007 to
	// 0xF012. 0xF007 to 0xF00B name other suites in ProfileDefault.
	ProfileTSMLS2 = "ts-mls-2"
)

// ProfileEnv is the environment variable ProfileFromEnv reads.
const ProfileEnv = "MLS_SUITE_PROFILE"

// ErrSuiteCollision is returned by Register for a code point that already
// names another suite.
var ErrSuiteCollision = errors.New("ciphersuite: code point already registered")

// ErrNotFIPSApproved is returned, with ErrUnsupportedSuite, by Lookup in
// FIPS 140-3 mode for a suite using an algorithm outside the Go
// Cryptographic Module's approved algorithms.
var ErrNotFIPSApproved = errors.New("ciphersuite: suite not approved in FIPS 140-3 mode")

// fipsMode is fixed at start-up: GODEBUG=fips140 cannot change later.
var fipsMode = fips140.Enabled()

type table struct {
	profile string
	suites  map[ID]*Suite
}

var (
	current    atomic.Pointer[table]
	registryMu sync.Mutex // serializes writers of current
)

func init() {
	if err := UseProfile(ProfileDefault); err != nil {
		panic(err) // a bug in the built-in tables, caught by any test
	}
}

// Lookup returns the suite registered under id, or an error wrapping
// ErrUnsupportedSuite. In FIPS 140-3 mode (GODEBUG=fips140=on) it refuses
// suites that are not FIPSApproved with an error that also wraps
// ErrNotFIPSApproved. It is safe for concurrent use.
func Lookup(id ID) (*Suite, error) {
	s := current.Load().suites[id]
	if s == nil {
		return nil, fmt.Errorf("%w: 0x%04x", ErrUnsupportedSuite, uint16(id))
	}
	if fipsMode && s.notFIPS != nil {
		return nil, &notApprovedError{id: id, name: s.name, why: s.notFIPS}
	}
	return s, nil
}

// IDs returns, in ascending order, the code points Lookup accepts: every
// registered suite, less those FIPS 140-3 mode refuses.
func IDs() []ID {
	t := current.Load()
	ids := make([]ID, 0, len(t.suites))
	for id, s := range t.suites {
		if !fipsMode || s.notFIPS == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Suites describes every registered suite, in ascending code point order,
// including those FIPS 140-3 mode refuses.
func Suites() []SuiteInfo {
	t := current.Load()
	out := make([]SuiteInfo, 0, len(t.suites))
	for _, id := range slices.Sorted(maps.Keys(t.suites)) {
		out = append(out, t.suites[id].Info())
	}
	return out
}

// FIPSMode reports whether the program runs in FIPS 140-3 mode, in which
// Lookup offers FIPS-approved suites only.
func FIPSMode() bool { return fipsMode }

// Profile returns the name of the profile in force.
func Profile() string { return current.Load().profile }

// Profiles returns the names UseProfile accepts.
func Profiles() []string {
	return []string{ProfileDefault, ProfileRFC, ProfileOpenMLS, ProfileTSMLS, ProfileTSMLS2}
}

// UseProfile replaces the suite table with the named profile's, dropping
// suites added by Register: choose the profile first, then register. The
// profiles differ where implementations disagree: 0x004D is X-Wing in
// OpenMLS and ML-KEM-512 in ts-mls.
func UseProfile(name string) error {
	entries, ok := profiles[name]
	if !ok {
		return fmt.Errorf("ciphersuite: unknown suite profile %q (want one of %s)", name, strings.Join(Profiles(), ", "))
	}
	t := &table{profile: name, suites: map[ID]*Suite{}}
	for _, e := range entries {
		if err := t.add(e.id, e.spec); err != nil {
			return err
		}
	}
	registryMu.Lock()
	current.Store(t)
	registryMu.Unlock()
	return nil
}

// ProfileFromEnv applies the profile named by the environment variable
// MLS_SUITE_PROFILE, or the default profile when it is unset or empty, and
// returns the name applied.
func ProfileFromEnv() (string, error) {
	name := os.Getenv(ProfileEnv)
	if name == "" {
		name = ProfileDefault
	}
	if err := UseProfile(name); err != nil {
		return "", fmt.Errorf("%s: %w", ProfileEnv, err)
	}
	return name, nil
}

// Register adds a suite to the table in force under a code point of the
// application's choosing, for suites whose code points are still private
// or provisional. Registering the same spec twice under one code point is
// harmless; a code point that names another suite is an error wrapping
// ErrSuiteCollision, as is any invalid spec.
func Register(id ID, spec Spec) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	old := current.Load()
	t := &table{profile: old.profile, suites: maps.Clone(old.suites)}
	if err := t.add(id, spec); err != nil {
		return err
	}
	current.Store(t)
	return nil
}

func (t *table) add(id ID, spec Spec) error {
	if id == 0 {
		return errors.New("ciphersuite: code point 0x0000 is reserved")
	}
	if s, ok := t.suites[id]; ok {
		if s.spec == spec {
			return nil
		}
		return fmt.Errorf("%w: 0x%04x is already %s (profile %q), cannot also be %s", ErrSuiteCollision, uint16(id), s.name, t.profile, spec.Name)
	}
	s, err := newSuite(id, spec)
	if err != nil {
		return err
	}
	t.suites[id] = s
	return nil
}

// newSuite validates spec and builds its suite.
func newSuite(id ID, spec Spec) (*Suite, error) {
	bad := func(what string) error {
		return fmt.Errorf("ciphersuite: suite %q: %s", spec.Name, what)
	}
	if spec.Name == "" {
		return nil, bad("no name")
	}
	k, okKEM := kems[spec.KEM]
	kdf, okKDF := kdfs[spec.KDF]
	a, okAEAD := aeads[spec.AEAD]
	h, okHash := hashes[spec.Hash]
	sig, okSig := signatures[spec.Signature]
	switch {
	case !okKEM:
		return nil, bad(fmt.Sprintf("unknown KEM %v", spec.KEM))
	case !okKDF:
		return nil, bad(fmt.Sprintf("unknown KDF %v", spec.KDF))
	case !okAEAD:
		return nil, bad(fmt.Sprintf("unknown AEAD %v", spec.AEAD))
	case !okHash:
		return nil, bad(fmt.Sprintf("hash %v is not SHA-256, SHA-384 or SHA-512", spec.Hash))
	case !okSig:
		return nil, bad(fmt.Sprintf("unknown signature scheme %v", spec.Signature))
	}
	kdfHash := hashes[kdf.hash]
	nh := kdf.hash.Size()
	// A KEM that takes its ikm as the seed needs node secrets (KDF.Nh
	// bytes) of exactly the seed's size.
	if m, ok := k.impl.(*mlkemKEM); ok && m.derivation == deriveRaw && nh != mlkemSeedSize {
		return nil, bad(fmt.Sprintf("%v needs a KDF with %d-byte output", spec.KEM, mlkemSeedSize))
	}
	s := &Suite{
		id: id, name: spec.Name, spec: spec,
		hash: h, kdfHash: kdfHash, nh: nh, aead: a.scheme,
		hpke: newHPKESuite(k.impl, uint16(spec.KDF), a.scheme), sig: sig.scheme,
	}
	var why []string
	for _, w := range []string{k.notFIPS, a.notFIPS, sig.notFIPS} {
		if w != "" {
			why = append(why, w)
		}
	}
	if len(why) > 0 {
		s.notFIPS = why
	}
	return s, nil
}

// notApprovedError is Lookup's refusal of a suite in FIPS 140-3 mode.
type notApprovedError struct {
	id   ID
	name string
	why  []string
}

func (e *notApprovedError) Error() string {
	return fmt.Sprintf("ciphersuite: suite 0x%04x (%s) is refused in FIPS 140-3 mode: the Go Cryptographic Module does not approve %s",
		uint16(e.id), e.name, strings.Join(e.why, ", "))
}

func (e *notApprovedError) Is(target error) bool {
	return target == ErrUnsupportedSuite || target == ErrNotFIPSApproved
}

// Info describes the suite.
func (s *Suite) Info() SuiteInfo {
	return SuiteInfo{ID: s.id, Spec: s.spec, FIPSApproved: s.notFIPS == nil}
}

// Spec returns the suite's algorithms.
func (s *Suite) Spec() Spec { return s.spec }
