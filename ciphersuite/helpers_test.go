package ciphersuite_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/conformance"
)

// hexBytes decodes a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// basicsCase is the part of a crypto-basics vector the tests here use.
type basicsCase struct {
	CipherSuite   ciphersuite.ID `json:"cipher_suite"`
	SignWithLabel struct {
		Priv, Pub, Content, Signature hexBytes
		Label                         string
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv, Pub, Context, Plaintext, Ciphertext hexBytes
		KEMOutput                                 hexBytes `json:"kem_output"`
		Label                                     string
	} `json:"encrypt_with_label"`
}

// readVectors decodes an official vector file into v.
func readVectors(tb testing.TB, name string, v any) {
	tb.Helper()
	dir, err := conformance.VectorsDir()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		tb.Fatal(err)
	}
}

// rfcSuites are the code points of RFC 9420 section 17.1.
var rfcSuites = []ciphersuite.ID{1, 2, 3, 4, 5, 6, 7}

func basicsVectors(tb testing.TB) []basicsCase {
	var cs []basicsCase
	readVectors(tb, "crypto-basics.json", &cs)
	if len(cs) != len(rfcSuites) {
		tb.Fatalf("%d crypto-basics cases, want one per RFC 9420 suite", len(cs))
	}
	return cs
}

// allSuites returns every suite of every profile, each once, as Lookup
// gives them (so in FIPS 140-3 mode the approved ones only). It leaves the
// default profile in force.
func allSuites(tb testing.TB) []*ciphersuite.Suite {
	tb.Helper()
	defer useProfile(tb, ciphersuite.ProfileDefault)
	seen := map[ciphersuite.SuiteInfo]bool{}
	var out []*ciphersuite.Suite
	for _, p := range ciphersuite.Profiles() {
		useProfile(tb, p)
		for _, id := range ciphersuite.IDs() {
			s, err := ciphersuite.Lookup(id)
			if err != nil {
				tb.Fatal(err)
			}
			if !seen[s.Info()] {
				seen[s.Info()] = true
				out = append(out, s)
			}
		}
	}
	return out
}

func useProfile(tb testing.TB, name string) {
	tb.Helper()
	if err := ciphersuite.UseProfile(name); err != nil {
		tb.Fatal(err)
	}
}

// suiteName names a suite's subtest by name and code point.
func suiteName(s *ciphersuite.Suite) string {
	return fmt.Sprintf("%s_0x%04x", s.Name(), uint16(s.ID()))
}

// forEachSuite runs f as a subtest for every suite of every profile.
func forEachSuite(t *testing.T, f func(t *testing.T, s *ciphersuite.Suite)) {
	for _, s := range allSuites(t) {
		t.Run(suiteName(s), func(t *testing.T) { f(t, s) })
	}
}

// encryptContext encodes EncryptContext (RFC 9420 section 5.1.3) for
// contexts shorter than 64 bytes, independently of the package's encoder.
func encryptContext(label string, context []byte) []byte {
	l := "MLS 1.0 " + label
	if len(l) >= 64 || len(context) >= 64 {
		panic("test encoder handles short values only")
	}
	out := append([]byte{byte(len(l))}, l...)
	out = append(out, byte(len(context)))
	return append(out, context...)
}
