package ciphersuite

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// The label is the draft's struct, byte for byte.
func TestComponentOperationLabel(t *testing.T) {
	got, err := ComponentOperationLabel(0x0102, "op")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{13}, "MLS Component"...)
	want = append(want, 0x01, 0x02, 2, 'o', 'p')
	if !bytes.Equal(got, want) {
		t.Fatalf("label %x, want %x", got, want)
	}
}

// A component's signature is an Ed25519 signature over SignContent with
// "MLS 1.0 " + ComponentOperationLabel as its label, checked here with
// crypto/ed25519 directly; it does not verify for another component, label
// or plain MLS label.
func TestSafeSignWithLabel(t *testing.T) {
	s, err := Lookup(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("component data")
	sig, err := s.SafeSignWithLabel(k, 7, "sign", content)
	if err != nil {
		t.Fatal(err)
	}
	label := append([]byte("MLS 1.0 "), append(append([]byte{13}, "MLS Component"...), 0, 7, 4, 's', 'i', 'g', 'n')...)
	msg := append([]byte{byte(len(label))}, label...)
	msg = append(msg, byte(len(content)))
	msg = append(msg, content...)
	if !ed25519.Verify(k.PublicKey(), msg, sig) {
		t.Fatal("not an Ed25519 signature over the draft's SignContent")
	}
	if err := s.SafeVerifyWithLabel(k.PublicKey(), 7, "sign", content, sig); err != nil {
		t.Fatal(err)
	}
	for name, verify := range map[string]func() error{
		"other component": func() error { return s.SafeVerifyWithLabel(k.PublicKey(), 8, "sign", content, sig) },
		"other label":     func() error { return s.SafeVerifyWithLabel(k.PublicKey(), 7, "sig", content, sig) },
		"MLS label":       func() error { return s.VerifyWithLabel(k.PublicKey(), "sign", content, sig) },
	} {
		if err := verify(); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSafeEncryptWithLabel(t *testing.T) {
	for _, id := range []ID{MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, MLS_256_DHKEMP521_AES256GCM_SHA512_P521} {
		s, err := Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub, err := s.GenerateHPKEKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		kem, ct, err := s.SafeEncryptWithLabel(pub, 3, "seal", []byte("ctx"), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.SafeDecryptWithLabel(priv, 3, "seal", []byte("ctx"), kem, ct)
		if err != nil || string(pt) != "secret" {
			t.Fatalf("%q, %v", pt, err)
		}
		// The same as DecryptWithLabel with the component's label.
		l, _ := ComponentOperationLabel(3, "seal")
		if pt, err := s.DecryptWithLabel(priv, string(l), []byte("ctx"), kem, ct); err != nil || string(pt) != "secret" {
			t.Fatalf("%q, %v", pt, err)
		}
		for name, open := range map[string]func() ([]byte, error){
			"other component": func() ([]byte, error) { return s.SafeDecryptWithLabel(priv, 4, "seal", []byte("ctx"), kem, ct) },
			"other context":   func() ([]byte, error) { return s.SafeDecryptWithLabel(priv, 3, "seal", []byte("ctz"), kem, ct) },
			"MLS label":       func() ([]byte, error) { return s.DecryptWithLabel(priv, "seal", []byte("ctx"), kem, ct) },
		} {
			if _, err := open(); !errors.Is(err, ErrDecryption) {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
