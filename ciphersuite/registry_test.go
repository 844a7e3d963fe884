package ciphersuite_test

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/conformance"
)

// restoreDefault puts the default profile back after a test that changes
// the table.
func restoreDefault(t *testing.T) {
	t.Cleanup(func() { useProfile(t, ciphersuite.ProfileDefault) })
}

func profileIDs(t *testing.T, name string) []ciphersuite.ID {
	useProfile(t, name)
	var ids []ciphersuite.ID
	for _, s := range ciphersuite.Suites() {
		ids = append(ids, s.ID)
	}
	return ids
}

func idRange(from, to ciphersuite.ID) []ciphersuite.ID {
	var ids []ciphersuite.ID
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func TestProfileTables(t *testing.T) {
	restoreDefault(t)
	want := map[string][]ciphersuite.ID{
		ciphersuite.ProfileRFC:     rfcSuites,
		ciphersuite.ProfileOpenMLS: append(slices.Clone(rfcSuites), 0x004D),
		ciphersuite.ProfileTSMLS:   append(slices.Clone(rfcSuites), idRange(77, 88)...),
		ciphersuite.ProfileTSMLS2:  append(slices.Clone(rfcSuites), idRange(0xF007, 0xF012)...),
		ciphersuite.ProfileDefault: slices.Concat(rfcSuites, []ciphersuite.ID{0x004D}, idRange(0xF001, 0xF00B)),
	}
	for _, p := range ciphersuite.Profiles() {
		if got := profileIDs(t, p); !slices.Equal(got, want[p]) {
			t.Errorf("profile %s: %v, want %v", p, got, want[p])
		}
		if ciphersuite.Profile() != p {
			t.Errorf("Profile() = %q after UseProfile(%q)", ciphersuite.Profile(), p)
		}
	}

	// 0x004D is X-Wing in OpenMLS and ML-KEM-512 in ts-mls.
	openMLS := ciphersuite.Spec{
		Name: "MLS_256_XWING_CHACHA20POLY1305_SHA256_Ed25519", KEM: ciphersuite.KEMXWingOpenMLS,
		KDF: ciphersuite.KDFHKDFSHA256, AEAD: ciphersuite.AEADChaCha20Poly1305, Hash: crypto.SHA256, Signature: ciphersuite.SignatureEd25519,
	}
	for p, want := range map[string]ciphersuite.Spec{
		ciphersuite.ProfileOpenMLS: openMLS,
		ciphersuite.ProfileDefault: openMLS,
		ciphersuite.ProfileTSMLS: {
			Name: "MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519", KEM: ciphersuite.KEMMLKEM512TSMLS,
			KDF: ciphersuite.KDFHKDFSHA512, AEAD: ciphersuite.AEADAES256GCM, Hash: crypto.SHA256, Signature: ciphersuite.SignatureEd25519,
		},
	} {
		useProfile(t, p)
		s, err := ciphersuite.Lookup(0x004D)
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec() != want {
			t.Errorf("profile %s: 0x004D is %+v, want %+v", p, s.Spec(), want)
		}
		if ciphersuite.ID(0x004D).String() != want.Name {
			t.Errorf("profile %s: ID(0x004D).String() = %s", p, ciphersuite.ID(0x004D))
		}
	}
}

// TestTSMLS2Profile checks that ts-mls 2.0's code points 0xF007 to 0xF012
// name, in order, the suites ts-mls 1.6.4 numbered 77 to 88 (ts-mls 2.0's
// dist/src/crypto/ciphersuite.js has the same names and algorithms).
func TestTSMLS2Profile(t *testing.T) {
	restoreDefault(t)
	useProfile(t, ciphersuite.ProfileTSMLS)
	var old []ciphersuite.Spec
	for id := ciphersuite.ID(77); id <= 88; id++ {
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, s.Spec())
	}
	useProfile(t, ciphersuite.ProfileTSMLS2)
	for i, want := range old {
		id := ciphersuite.ID(0xF007 + i)
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec() != want {
			t.Errorf("%#04x is %+v, want %+v", uint16(id), s.Spec(), want)
		}
	}
	if _, err := ciphersuite.Lookup(77); err == nil {
		t.Error("profile ts-mls-2 still has code point 77")
	}
}

// TestDraftSuites checks the default profile's suites 0xF001 to 0xF00B
// against Tables 1 and 2 of draft-ietf-mls-pq-ciphersuites-06 itself.
func TestDraftSuites(t *testing.T) {
	dir, err := conformance.VectorsDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "..", "spec", "draft-ietf-mls-pq-ciphersuites-06.txt")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the draft is read from the shared spec folder: %v", err)
	}
	names := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*\|TBD(\d+)\s*\|(MLS_\w+)\s*\|`).FindAllStringSubmatch(string(text), -1) {
		n, _ := strconv.Atoi(m[1])
		names[n] = m[2]
	}
	rows := regexp.MustCompile(`(?m)^\s*\|TBD(\d+)\s*\|\s*0x([0-9a-f]{4})\s*\|\s*0x([0-9a-f]{4})\s*\|\s*0x([0-9a-f]{4})\s*\|\s*SHA(\d+)\s*\|\s*(\w+)\s*\|`).FindAllStringSubmatch(string(text), -1)
	if len(rows) != 11 || len(names) != 11 {
		t.Fatalf("parsed %d rows of Table 2 and %d of Table 1, want 11 each", len(rows), len(names))
	}
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	for _, r := range rows {
		n, _ := strconv.Atoi(r[1])
		s, err := ciphersuite.Lookup(ciphersuite.ID(0xF000 + n))
		if err != nil {
			t.Fatal(err)
		}
		spec := s.Spec()
		got := []string{spec.Name, fmt.Sprintf("%04x", spec.KEM.HPKEID()), fmt.Sprintf("%04x", uint16(spec.KDF)), fmt.Sprintf("%04x", uint16(spec.AEAD)), spec.Hash.String(), spec.Signature.String()}
		want := []string{names[n], r[2], r[3], r[4], hashes[r[5]].String(), r[6]}
		if !slices.Equal(got, want) {
			t.Errorf("TBD%d: %v, want %v", n, got, want)
		}
		// The KDF's hash is the suite's hash in every draft suite.
		if s.HashSize() != s.DigestSize() {
			t.Errorf("TBD%d: KDF and hash sizes differ", n)
		}
	}
}

var mlkem768Spec = ciphersuite.Spec{
	Name: "EXAMPLE_MLKEM768_AES256GCM_SHA384_P384", KEM: ciphersuite.KEMMLKEM768,
	KDF: ciphersuite.KDFHKDFSHA384, AEAD: ciphersuite.AEADAES256GCM, Hash: crypto.SHA384, Signature: ciphersuite.SignatureECDSAP384SHA384,
}

func TestRegister(t *testing.T) {
	restoreDefault(t)
	useProfile(t, ciphersuite.ProfileRFC)
	const id = 0xF0AA
	if _, err := ciphersuite.Lookup(id); !errors.Is(err, ciphersuite.ErrUnsupportedSuite) {
		t.Fatalf("before Register: %v", err)
	}
	if err := ciphersuite.Register(id, mlkem768Spec); err != nil {
		t.Fatal(err)
	}
	s, err := ciphersuite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID() != id || s.Spec() != mlkem768Spec || ciphersuite.ID(id).String() != mlkem768Spec.Name {
		t.Fatalf("registered suite: %v %+v", s.ID(), s.Spec())
	}
	roundTrip(t, s)
	if err := ciphersuite.Register(id, mlkem768Spec); err != nil {
		t.Fatalf("registering the same suite again: %v", err)
	}

	other := mlkem768Spec
	other.Name, other.KEM = "EXAMPLE_MLKEM1024_AES256GCM_SHA384_P384", ciphersuite.KEMMLKEM1024
	for _, c := range []struct {
		id       ciphersuite.ID
		existing string
	}{{id, mlkem768Spec.Name}, {1, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"}} {
		err := ciphersuite.Register(c.id, other)
		if !errors.Is(err, ciphersuite.ErrSuiteCollision) {
			t.Fatalf("collision at 0x%04x: %v", uint16(c.id), err)
		}
		// The error names both suites and the code point.
		for _, part := range []string{c.existing, other.Name, fmt.Sprintf("0x%04x", uint16(c.id))} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("collision error %q does not name %s", err, part)
			}
		}
	}
	if s, _ := ciphersuite.Lookup(id); s.Spec() != mlkem768Spec {
		t.Fatal("a failed Register changed the table")
	}

	// UseProfile starts from the profile's table.
	useProfile(t, ciphersuite.ProfileRFC)
	if _, err := ciphersuite.Lookup(id); err == nil {
		t.Fatal("registration survived UseProfile")
	}
}

// TestRegisterOpenMLSInTSMLS is the example: OpenMLS's X-Wing
// cannot take 0x004D in the ts-mls table, where it is ML-KEM-512.
func TestRegisterOpenMLSInTSMLS(t *testing.T) {
	restoreDefault(t)
	useProfile(t, ciphersuite.ProfileOpenMLS)
	s, err := ciphersuite.Lookup(0x004D)
	if err != nil {
		t.Fatal(err)
	}
	useProfile(t, ciphersuite.ProfileTSMLS)
	err = ciphersuite.Register(0x004D, s.Spec())
	if !errors.Is(err, ciphersuite.ErrSuiteCollision) || !strings.Contains(err.Error(), "MLKEM512") || !strings.Contains(err.Error(), "XWING") {
		t.Fatalf("got %v", err)
	}
	// At a free code point it coexists with the ts-mls suites.
	if err := ciphersuite.Register(0xF04D, s.Spec()); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterRejectsInvalid(t *testing.T) {
	restoreDefault(t)
	bad := map[string]func(*ciphersuite.Spec){
		"no name":             func(s *ciphersuite.Spec) { s.Name = "" },
		"unknown KEM":         func(s *ciphersuite.Spec) { s.KEM = 0 },
		"unknown KDF":         func(s *ciphersuite.Spec) { s.KDF = 0x0010 },
		"unknown AEAD":        func(s *ciphersuite.Spec) { s.AEAD = 0xffff },
		"unknown hash":        func(s *ciphersuite.Spec) { s.Hash = crypto.SHA3_256 },
		"no hash":             func(s *ciphersuite.Spec) { s.Hash = 0 },
		"unknown signature":   func(s *ciphersuite.Spec) { s.Signature = 0x0401 },
		"raw seed with short": func(s *ciphersuite.Spec) { s.KEM, s.KDF = ciphersuite.KEMMLKEM768TSMLS, ciphersuite.KDFHKDFSHA256 },
	}
	for what, mutate := range bad {
		spec := mlkem768Spec
		mutate(&spec)
		err := ciphersuite.Register(0xF0BB, spec)
		if err == nil || errors.Is(err, ciphersuite.ErrSuiteCollision) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if err := ciphersuite.Register(0, mlkem768Spec); err == nil {
		t.Error("code point 0 accepted")
	}
	if _, err := ciphersuite.Lookup(0xF0BB); err == nil {
		t.Error("an invalid spec was registered")
	}
}

func TestUseProfileUnknown(t *testing.T) {
	restoreDefault(t)
	useProfile(t, ciphersuite.ProfileTSMLS)
	err := ciphersuite.UseProfile("mlspp")
	if err == nil || !strings.Contains(err.Error(), "mlspp") || !strings.Contains(err.Error(), "ts-mls") {
		t.Fatalf("got %v", err)
	}
	if ciphersuite.Profile() != ciphersuite.ProfileTSMLS {
		t.Fatal("a failed UseProfile changed the table")
	}
}

func TestProfileFromEnv(t *testing.T) {
	restoreDefault(t)
	for env, want := range map[string]string{"": "default", "ts-mls": "ts-mls", "openmls": "openmls", "rfc": "rfc"} {
		t.Setenv(ciphersuite.ProfileEnv, env)
		got, err := ciphersuite.ProfileFromEnv()
		if err != nil || got != want || ciphersuite.Profile() != want {
			t.Errorf("%s=%q: %q, %v", ciphersuite.ProfileEnv, env, got, err)
		}
	}
	// With MLS_SUITE_PROFILE=ts-mls, 77 to 88 mean what they mean in ts-mls.
	t.Setenv(ciphersuite.ProfileEnv, "ts-mls")
	if _, err := ciphersuite.ProfileFromEnv(); err != nil {
		t.Fatal(err)
	}
	if s, err := ciphersuite.Lookup(88); err != nil || s.Name() != "MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87" {
		t.Fatalf("suite 88: %v", err)
	}
	t.Setenv(ciphersuite.ProfileEnv, "TS-MLS")
	if _, err := ciphersuite.ProfileFromEnv(); err == nil || !strings.Contains(err.Error(), ciphersuite.ProfileEnv) {
		t.Fatalf("bad profile name: %v", err)
	}
}

// TestRegistryConcurrent runs Lookup while the table changes; run with
// -race to check the publication.
func TestRegistryConcurrent(t *testing.T) {
	restoreDefault(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, id := range []ciphersuite.ID{1, 2, 0x004D, 77} {
					if s, err := ciphersuite.Lookup(id); err == nil && s.ID() != id {
						t.Errorf("Lookup(%v) returned suite %v", id, s.ID())
					}
				}
				_ = ciphersuite.IDs()
			}
		})
	}
	for i := range 200 {
		useProfile(t, ciphersuite.Profiles()[i%4])
		if err := ciphersuite.Register(ciphersuite.ID(0xF100+i), mlkem768Spec); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func TestSuitesInfo(t *testing.T) {
	restoreDefault(t)
	for _, p := range ciphersuite.Profiles() {
		useProfile(t, p)
		infos := ciphersuite.Suites()
		for i, info := range infos {
			if i > 0 && infos[i-1].ID >= info.ID {
				t.Fatalf("profile %s: Suites not in ascending order", p)
			}
			s, err := ciphersuite.Lookup(info.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s.Info() != info || s.Name() != info.Name || info.ID.String() != info.Name {
				t.Errorf("profile %s: %+v, suite says %+v", p, info, s.Info())
			}
			for _, name := range []fmt.Stringer{info.KEM, info.KDF, info.AEAD, info.Hash, info.Signature} {
				if strings.Contains(name.String(), "(0x") || strings.HasPrefix(name.String(), "KEM(") || strings.HasPrefix(name.String(), "unknown") {
					t.Errorf("%s: algorithm without a name: %s", info.Name, name)
				}
			}
		}
	}
}

// TestDeriveHPKEKeyPairDeterministic: the same ikm gives the same key pair,
// another ikm another, and the derived key decrypts what is sealed to it.
func TestDeriveHPKEKeyPairDeterministic(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		ikm := bytes.Repeat([]byte{0x42}, s.HashSize())
		priv, pub, err := s.DeriveHPKEKeyPair(ikm)
		if err != nil {
			t.Fatal(err)
		}
		priv2, pub2, err := s.DeriveHPKEKeyPair(bytes.Clone(ikm))
		if err != nil || !bytes.Equal(priv, priv2) || !bytes.Equal(pub, pub2) {
			t.Fatalf("second derivation differs: %v", err)
		}
		ikm[0]++
		priv3, pub3, err := s.DeriveHPKEKeyPair(ikm)
		if err != nil || bytes.Equal(priv, priv3) || bytes.Equal(pub, pub3) {
			t.Fatalf("another ikm gives the same key: %v", err)
		}
		ko, ct, err := s.EncryptWithLabel(pub, "UpdatePathNode", []byte("gc"), []byte("path secret"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.DecryptWithLabel(priv, "UpdatePathNode", []byte("gc"), ko, ct); err != nil || string(pt) != "path secret" {
			t.Fatalf("derived key: %q, %v", pt, err)
		}
	})
}

// roundTrip exercises a suite end to end: sign and verify, encrypt and
// decrypt, export, derive.
func roundTrip(t *testing.T, s *ciphersuite.Suite) {
	t.Helper()
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignWithLabel(k, "L", []byte("c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyWithLabel(k.PublicKey(), "L", []byte("c"), sig); err != nil {
		t.Fatal(err)
	}
	priv, pub, err := s.DeriveHPKEKeyPair(make([]byte, s.HashSize()))
	if err != nil {
		t.Fatal(err)
	}
	ko, ct, err := s.EncryptWithLabel(pub, "L", []byte("c"), []byte("pt"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.DecryptWithLabel(priv, "L", []byte("c"), ko, ct); err != nil || string(pt) != "pt" {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	ko, secret, err := s.ExportSecretSender(pub, nil, []byte("x"), s.HashSize())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.ExportSecretReceiver(priv, ko, nil, []byte("x"), s.HashSize()); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("export: %v", err)
	}
}

func TestUnknownAlgorithmNames(t *testing.T) {
	for got, want := range map[fmt.Stringer]string{
		ciphersuite.KEM(99):          "KEM(99)",
		ciphersuite.KDF(0x10):        "KDF(0x0010)",
		ciphersuite.AEAD(0xffff):     "AEAD(0xffff)",
		ciphersuite.Signature(0x1):   "Signature(0x0001)",
		ciphersuite.KEMXWing:         "MLKEM768-X25519 (X-Wing)",
		ciphersuite.SignatureMLDSA87: "mldsa87",
	} {
		if got.String() != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	if ciphersuite.KEM(99).HPKEID() != 0 || ciphersuite.KEMXWingOpenMLS.HPKEID() != 0x004D {
		t.Error("HPKEID")
	}
}
