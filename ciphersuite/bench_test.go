package ciphersuite_test

import (
	"fmt"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// benchSuites runs f as a sub-benchmark per suite of every profile, named
// by code point and name (0x0001_MLS_128_DHKEMX25519_...).
func benchSuites(b *testing.B, f func(b *testing.B, s *ciphersuite.Suite)) {
	for _, s := range allSuites(b) {
		b.Run(fmt.Sprintf("0x%04x_%s", uint16(s.ID()), s.Name()), func(b *testing.B) { f(b, s) })
	}
}

var benchContent = make([]byte, 100)

func BenchmarkSignWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		k, err := s.GenerateSigningKey()
		if err != nil {
			b.Fatal(err)
		}
		var sig []byte
		for b.Loop() {
			if sig, err = s.SignWithLabel(k, "LeafNodeTBS", benchContent); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(k.PublicKey())), "sigpub-B")
		b.ReportMetric(float64(len(sig)), "sig-B")
	})
}

func BenchmarkVerifyWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		k, err := s.GenerateSigningKey()
		if err != nil {
			b.Fatal(err)
		}
		sig, err := s.SignWithLabel(k, "LeafNodeTBS", benchContent)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := s.VerifyWithLabel(k.PublicKey(), "LeafNodeTBS", benchContent, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		_, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		var kemOut []byte
		for b.Loop() {
			if kemOut, _, err = s.EncryptWithLabel(pub, "UpdatePathNode", benchContent, benchContent); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(pub)), "hpkepub-B")
		b.ReportMetric(float64(len(kemOut)), "kemout-B")
	})
}

func BenchmarkDecryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		kemOut, ct, err := s.EncryptWithLabel(pub, "UpdatePathNode", benchContent, benchContent)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.DecryptWithLabel(priv, "UpdatePathNode", benchContent, kemOut, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGenerateHPKEKeyPair(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		for b.Loop() {
			if _, _, err := s.GenerateHPKEKeyPair(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDeriveHPKEKeyPair(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		ikm := make([]byte, s.HashSize())
		for b.Loop() {
			if _, _, err := s.DeriveHPKEKeyPair(ikm); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkExpandWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		secret := make([]byte, s.HashSize())
		for b.Loop() {
			if _, err := s.ExpandWithLabel(secret, "key", benchContent[:32], s.AEADKeySize()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSeal1KiB(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		key, nonce, pt := make([]byte, s.AEADKeySize()), make([]byte, s.AEADNonceSize()), make([]byte, 1024)
		b.SetBytes(int64(len(pt)))
		for b.Loop() {
			if _, err := s.Seal(key, nonce, nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen1KiB(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *ciphersuite.Suite) {
		key, nonce := make([]byte, s.AEADKeySize()), make([]byte, s.AEADNonceSize())
		ct, err := s.Seal(key, nonce, nil, make([]byte, 1024))
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(1024)
		for b.Loop() {
			if _, err := s.Open(key, nonce, nil, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncryptorWelcome seals to 10 recipients under a 1 MiB context:
// the context is hashed once per Encryptor, not once per recipient.
func BenchmarkEncryptorWelcome(b *testing.B) {
	s, _ := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	context := make([]byte, 1<<20)
	pubs := make([][]byte, 10)
	for i := range pubs {
		_, pubs[i], _ = s.GenerateHPKEKeyPair()
	}
	for b.Loop() {
		e := s.NewEncryptor("Welcome", context)
		for _, pub := range pubs {
			if _, _, err := e.Seal(pub, benchContent); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkLookup is the per-message cost of finding a suite, from several
// goroutines at once.
func BenchmarkLookup(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519); err != nil {
				b.Error(err)
			}
		}
	})
}
