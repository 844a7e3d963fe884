package ciphersuite_test

import (
	"bytes"
	"crypto/hpke"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
)

// The exporter as ExternalInit uses it (RFC 9420 section 8.3): empty info,
// the external init label, Nh bytes.
const externalInitLabel = "MLS 1.0 external init secret"

func TestExportSecretAgainstStdlib(t *testing.T) {
	forEachStdSuite(t, func(t *testing.T, s *ciphersuite.Suite, k hpke.KEM, kdf hpke.KDF, aead hpke.AEAD) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		stdPriv, err := k.NewPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			info, context []byte
			length        int
		}{
			{nil, []byte(externalInitLabel), s.HashSize()},
			{[]byte("some info"), nil, 0},
			{nil, nil, 1},
			{[]byte("info"), []byte("context"), 255 * s.HashSize()},
		} {
			// Ours sends, crypto/hpke receives.
			kemOut, secret, err := s.ExportSecretSender(pub, c.info, c.context, c.length)
			if err != nil {
				t.Fatal(err)
			}
			if len(secret) != c.length {
				t.Fatalf("secret is %d bytes, want %d", len(secret), c.length)
			}
			r, err := hpke.NewRecipient(kemOut, stdPriv, kdf, aead, c.info)
			if err != nil {
				t.Fatal(err)
			}
			want, err := r.Export(string(c.context), c.length)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(secret, want) {
				t.Fatalf("sender export %x, crypto/hpke recipient %x", secret, want)
			}
			got, err := s.ExportSecretReceiver(priv, kemOut, c.info, c.context, c.length)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("receiver export %x, %v; want %x", got, err, want)
			}

			// crypto/hpke sends, ours receives.
			kemOut, sender, err := hpke.NewSender(stdPriv.PublicKey(), kdf, aead, c.info)
			if err != nil {
				t.Fatal(err)
			}
			want, err = sender.Export(string(c.context), c.length)
			if err != nil {
				t.Fatal(err)
			}
			got, err = s.ExportSecretReceiver(priv, kemOut, c.info, c.context, c.length)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("receiver export of a crypto/hpke sender %x, %v; want %x", got, err, want)
			}
		}
	})
}

// TestExportSecretAgreement checks every suite, the X448 ones included, by
// sender and receiver agreement, and that each input is bound.
func TestExportSecretAgreement(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		nh := s.HashSize()
		kemOut, secret, err := s.ExportSecretSender(pub, nil, []byte(externalInitLabel), nh)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ExportSecretReceiver(priv, kemOut, nil, []byte(externalInitLabel), nh)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("receiver %x, %v; sender %x", got, err, secret)
		}
		kemOut2, secret2, err := s.ExportSecretSender(pub, nil, []byte(externalInitLabel), nh)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(kemOut, kemOut2) || bytes.Equal(secret, secret2) {
			t.Fatal("two exports share a kem output or a secret")
		}
		other, _, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		for what, f := range map[string]func() ([]byte, error){
			"other info": func() ([]byte, error) {
				return s.ExportSecretReceiver(priv, kemOut, []byte{0}, []byte(externalInitLabel), nh)
			},
			"other context": func() ([]byte, error) {
				return s.ExportSecretReceiver(priv, kemOut, nil, []byte("MLS 1.0 external init secreT"), nh)
			},
			"other key": func() ([]byte, error) {
				return s.ExportSecretReceiver(other, kemOut, nil, []byte(externalInitLabel), nh)
			},
		} {
			if got, err := f(); err == nil && bytes.Equal(got, secret) {
				t.Errorf("%s: same secret", what)
			}
		}
		// L is in the labeled info, so a shorter export is no prefix of a longer one.
		short, err := s.ExportSecretReceiver(priv, kemOut, nil, []byte(externalInitLabel), nh/2)
		if err == nil && bytes.Equal(short, secret[:nh/2]) {
			t.Error("export length is not bound")
		}
	})
}

func TestExportSecretRejects(t *testing.T) {
	forEachSuite(t, func(t *testing.T, s *ciphersuite.Suite) {
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		kemOut, _, err := s.ExportSecretSender(pub, nil, nil, 32)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{-1, 255*s.HashSize() + 1, 1 << 20} {
			if _, _, err := s.ExportSecretSender(pub, nil, nil, n); err == nil {
				t.Errorf("sender accepted length %d", n)
			}
			if _, err := s.ExportSecretReceiver(priv, kemOut, nil, nil, n); err == nil {
				t.Errorf("receiver accepted length %d", n)
			}
		}
		for i, bad := range badPublicKeys(s, pub) {
			if _, _, err := s.ExportSecretSender(bad, nil, nil, 32); err == nil {
				t.Errorf("bad public key %d accepted", i)
			}
		}
		for i, bad := range badKEMOutputs(s, kemOut) {
			if _, err := s.ExportSecretReceiver(priv, bad, nil, nil, 32); err == nil {
				t.Errorf("bad kem output %d accepted", i)
			}
		}
		for i, bad := range [][]byte{nil, priv[1:], append(append([]byte(nil), priv...), 0)} {
			if _, err := s.ExportSecretReceiver(bad, kemOut, nil, nil, 32); err == nil {
				t.Errorf("bad private key %d accepted", i)
			}
		}
	})
}
