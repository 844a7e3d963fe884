package ciphersuite_test

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

func readTestdata(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatal(err)
	}
}

// TestMLDSAKeyGenACVP checks ML-DSA key generation from a seed against
// NIST's ACVP vectors: the seed is the private key, so this pins both the
// key format and the public key.
func TestMLDSAKeyGenACVP(t *testing.T) {
	var cases []struct {
		ParameterSet string   `json:"parameter_set"`
		Seed         hexBytes `json:"seed"`
		PK           hexBytes `json:"pk"`
	}
	readTestdata(t, "mldsa-keygen-acvp.json", &cases)
	suites := map[string]ciphersuite.ID{
		"ML-DSA-44": ciphersuite.MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44,
		"ML-DSA-65": ciphersuite.MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65,
		"ML-DSA-87": ciphersuite.MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87,
	}
	seen := map[string]bool{}
	for i, c := range cases {
		s, err := ciphersuite.Lookup(suites[c.ParameterSet])
		if err != nil {
			t.Fatal(err)
		}
		k, err := s.ParseSigningKey(c.Seed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.PublicKey(), c.PK) {
			t.Errorf("case %d (%s): public key differs", i, c.ParameterSet)
		}
		if !bytes.Equal(k.Bytes(), c.Seed) {
			t.Errorf("case %d: private key is not the seed", i)
		}
		seen[c.ParameterSet] = true
	}
	if len(seen) != 3 {
		t.Fatalf("vectors cover %v", seen)
	}
}

// tsMLSVector is one suite's outputs of ts-mls 1.6.4 (testdata/tsmls-1.6.4.json).
type tsMLSVector struct {
	CipherSuite   ciphersuite.ID `json:"cipher_suite"`
	Name          string
	DeriveKeyPair struct {
		IKM, Priv, Pub hexBytes
	} `json:"derive_key_pair"`
	EncryptWithLabel struct {
		Label              string
		Context, Plaintext hexBytes
		KEMOutput          hexBytes `json:"kem_output"`
		Ciphertext         hexBytes
	} `json:"encrypt_with_label"`
	Export struct {
		KEMOutput hexBytes `json:"kem_output"`
		Secret    hexBytes
		Length    int
	}
	SignWithLabel struct {
		Seed, Pub, Content, Signature hexBytes
		Label                         string
	} `json:"sign_with_label"`
	ExpandWithLabel struct {
		Secret, Context, Out hexBytes
		Label                string
		Length               int
	} `json:"expand_with_label"`
	RefHash struct {
		Label      string
		Value, Out hexBytes
	} `json:"ref_hash"`
	MAC struct {
		Key, Data, Out hexBytes
	}
	AEAD struct {
		Key, Nonce, AAD, Plaintext, Ciphertext hexBytes
	}
}

// TestTSMLSVectors checks the ts-mls profile against what ts-mls 1.6.4
// itself computes for each of its post-quantum suites: the same key pair
// from the same node secret, its ciphertexts and exports open here, its
// signatures verify here (and ML-DSA keys from the same seed agree), and
// the symmetric functions agree byte for byte.
func TestTSMLSVectors(t *testing.T) {
	var vs []tsMLSVector
	readTestdata(t, "tsmls-1.6.4.json", &vs)
	useProfile(t, ciphersuite.ProfileTSMLS)
	t.Cleanup(func() { useProfile(t, ciphersuite.ProfileDefault) })
	if len(vs) != 12 {
		t.Fatalf("%d vectors, want suites 77 to 88", len(vs))
	}
	for _, v := range vs {
		s, err := ciphersuite.Lookup(v.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(suiteName(s), func(t *testing.T) {
			if s.Name() != v.Name {
				t.Fatalf("suite %d is %s, ts-mls calls it %s", v.CipherSuite, s.Name(), v.Name)
			}
			d := v.DeriveKeyPair
			priv, pub, err := s.DeriveHPKEKeyPair(d.IKM)
			if err != nil || !bytes.Equal(priv, d.Priv) || !bytes.Equal(pub, d.Pub) {
				t.Fatalf("DeriveKeyPair differs from ts-mls: %v", err)
			}
			e := v.EncryptWithLabel
			pt, err := s.DecryptWithLabel(priv, e.Label, e.Context, e.KEMOutput, e.Ciphertext)
			if err != nil || !bytes.Equal(pt, e.Plaintext) {
				t.Fatalf("cannot open ts-mls's EncryptWithLabel: %v", err)
			}
			x := v.Export
			secret, err := s.ExportSecretReceiver(priv, x.KEMOutput, nil, []byte("MLS 1.0 external init secret"), x.Length)
			if err != nil || !bytes.Equal(secret, x.Secret) {
				t.Fatalf("export differs from ts-mls: %v", err)
			}
			sg := v.SignWithLabel
			if err := s.VerifyWithLabel(sg.Pub, sg.Label, sg.Content, sg.Signature); err != nil {
				t.Fatalf("ts-mls signature: %v", err)
			}
			if len(sg.Seed) > 0 { // null for the Ed25519 suites
				k, err := s.ParseSigningKey(sg.Seed)
				if err != nil || !bytes.Equal(k.PublicKey(), sg.Pub) {
					t.Fatalf("ML-DSA key from ts-mls's seed differs: %v", err)
				}
			}
			ex := v.ExpandWithLabel
			out, err := s.ExpandWithLabel(ex.Secret, ex.Label, ex.Context, ex.Length)
			if err != nil || !bytes.Equal(out, ex.Out) {
				t.Fatalf("ExpandWithLabel differs: %v", err)
			}
			if !bytes.Equal(s.RefHash(v.RefHash.Label, v.RefHash.Value), v.RefHash.Out) {
				t.Fatal("RefHash differs")
			}
			if !bytes.Equal(s.MAC(v.MAC.Key, v.MAC.Data), v.MAC.Out) {
				t.Fatal("MAC differs")
			}
			a := v.AEAD
			ct, err := s.Seal(a.Key, a.Nonce, a.AAD, a.Plaintext)
			if err != nil || !bytes.Equal(ct, a.Ciphertext) {
				t.Fatalf("AEAD differs: %v", err)
			}
			if s.HashSize() != x.Length || s.DigestSize() != len(v.RefHash.Out) {
				t.Fatalf("HashSize %d, DigestSize %d", s.HashSize(), s.DigestSize())
			}
		})
	}
}
