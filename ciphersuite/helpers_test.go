package ciphersuite_test

import (
	"encoding/hex"
	"encoding/json"
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

func basicsVectors(tb testing.TB) []basicsCase {
	var cs []basicsCase
	readVectors(tb, "crypto-basics.json", &cs)
	if len(cs) != len(ciphersuite.IDs()) {
		tb.Fatalf("%d crypto-basics cases, want one per suite", len(cs))
	}
	return cs
}

// forEachSuite runs f as a subtest for every registered suite.
func forEachSuite(t *testing.T, f func(t *testing.T, s *ciphersuite.Suite)) {
	for _, id := range ciphersuite.IDs() {
		s, err := ciphersuite.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(s.Name(), func(t *testing.T) { f(t, s) })
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
