package conformance

import (
	"bytes"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

func init() { register("crypto-basics", runCryptoBasics) }

type cryptoBasicsCase struct {
	CipherSuite uint16 `json:"cipher_suite"`
	RefHash     struct {
		Label string   `json:"label"`
		Value hexBytes `json:"value"`
		Out   hexBytes `json:"out"`
	} `json:"ref_hash"`
	ExpandWithLabel struct {
		Secret  hexBytes `json:"secret"`
		Label   string   `json:"label"`
		Context hexBytes `json:"context"`
		Length  int      `json:"length"`
		Out     hexBytes `json:"out"`
	} `json:"expand_with_label"`
	DeriveSecret struct {
		Secret hexBytes `json:"secret"`
		Label  string   `json:"label"`
		Out    hexBytes `json:"out"`
	} `json:"derive_secret"`
	DeriveTreeSecret struct {
		Secret     hexBytes `json:"secret"`
		Label      string   `json:"label"`
		Generation uint32   `json:"generation"`
		Length     int      `json:"length"`
		Out        hexBytes `json:"out"`
	} `json:"derive_tree_secret"`
	SignWithLabel struct {
		Priv      hexBytes `json:"priv"`
		Pub       hexBytes `json:"pub"`
		Content   hexBytes `json:"content"`
		Label     string   `json:"label"`
		Signature hexBytes `json:"signature"`
	} `json:"sign_with_label"`
	EncryptWithLabel struct {
		Priv       hexBytes `json:"priv"`
		Pub        hexBytes `json:"pub"`
		Label      string   `json:"label"`
		Context    hexBytes `json:"context"`
		Plaintext  hexBytes `json:"plaintext"`
		KEMOutput  hexBytes `json:"kem_output"`
		Ciphertext hexBytes `json:"ciphertext"`
	} `json:"encrypt_with_label"`
}

func runCryptoBasics(data []byte) ([]CaseResult, error) {
	return runCases(data, func(c *cryptoBasicsCase) error {
		s, err := ciphersuite.Lookup(ciphersuite.ID(c.CipherSuite))
		if err != nil {
			return err
		}
		checks := []struct {
			name string
			f    func(*ciphersuite.Suite, *cryptoBasicsCase) error
		}{
			{"ref_hash", checkRefHash},
			{"expand_with_label", checkExpandWithLabel},
			{"derive_secret", checkDeriveSecret},
			{"derive_tree_secret", checkDeriveTreeSecret},
			{"sign_with_label", checkSignWithLabel},
			{"encrypt_with_label", checkEncryptWithLabel},
		}
		for _, ch := range checks {
			if err := ch.f(s, c); err != nil {
				return fmt.Errorf("%s: %w", ch.name, err)
			}
		}
		return nil
	})
}

// expectOut compares a derived value with the vector's out.
func expectOut(got []byte, err error, want []byte) error {
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return mismatch("out", got, want)
	}
	return nil
}

func checkRefHash(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.RefHash
	return expectOut(s.RefHash(v.Label, v.Value), nil, v.Out)
}

func checkExpandWithLabel(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.ExpandWithLabel
	got, err := s.ExpandWithLabel(v.Secret, v.Label, v.Context, v.Length)
	return expectOut(got, err, v.Out)
}

func checkDeriveSecret(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.DeriveSecret
	got, err := s.DeriveSecret(v.Secret, v.Label)
	return expectOut(got, err, v.Out)
}

func checkDeriveTreeSecret(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.DeriveTreeSecret
	got, err := s.DeriveTreeSecret(v.Secret, v.Label, v.Generation, v.Length)
	return expectOut(got, err, v.Out)
}

// checkSignWithLabel verifies the given signature, then signs afresh with the
// given key (signatures may be randomized) and verifies that.
func checkSignWithLabel(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.SignWithLabel
	if err := s.VerifyWithLabel(v.Pub, v.Label, v.Content, v.Signature); err != nil {
		return fmt.Errorf("verify given signature: %w", err)
	}
	k, err := s.ParseSigningKey(v.Priv)
	if err != nil {
		return err
	}
	if !bytes.Equal(k.PublicKey(), v.Pub) {
		return mismatch("public key of priv", k.PublicKey(), v.Pub)
	}
	sig, err := s.SignWithLabel(k, v.Label, v.Content)
	if err != nil {
		return err
	}
	if err := s.VerifyWithLabel(v.Pub, v.Label, v.Content, sig); err != nil {
		return fmt.Errorf("verify own signature: %w", err)
	}
	return nil
}

// checkEncryptWithLabel decrypts the given ciphertext, then round-trips a
// fresh encryption (HPKE is randomized, so it cannot be compared).
func checkEncryptWithLabel(s *ciphersuite.Suite, c *cryptoBasicsCase) error {
	v := &c.EncryptWithLabel
	pub, err := s.HPKEPublicKey(v.Priv)
	if err != nil {
		return err
	}
	if !bytes.Equal(pub, v.Pub) {
		return mismatch("public key of priv", pub, v.Pub)
	}
	pt, err := s.DecryptWithLabel(v.Priv, v.Label, v.Context, v.KEMOutput, v.Ciphertext)
	if err != nil {
		return fmt.Errorf("decrypt given ciphertext: %w", err)
	}
	if !bytes.Equal(pt, v.Plaintext) {
		return mismatch("plaintext", pt, v.Plaintext)
	}
	kemOut, ct, err := s.EncryptWithLabel(v.Pub, v.Label, v.Context, v.Plaintext)
	if err != nil {
		return err
	}
	pt, err = s.DecryptWithLabel(v.Priv, v.Label, v.Context, kemOut, ct)
	if err != nil {
		return fmt.Errorf("decrypt own ciphertext: %w", err)
	}
	if !bytes.Equal(pt, v.Plaintext) {
		return mismatch("round-trip plaintext", pt, v.Plaintext)
	}
	return nil
}
