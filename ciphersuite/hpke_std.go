package ciphersuite

import (
	"crypto/hpke"
	"errors"
	"fmt"
)

// stdHPKE is crypto/hpke for one suite, used instead of Arbor's own HPKE
// key schedule when the process runs the standard library's crypto
// (StandardCrypto). crypto/hpke hashes the info on every Seal, so a Welcome
// sealed to many new members hashes its encrypted GroupInfo once per member
// here; that is the price of the choice.
type stdHPKE struct {
	kem  hpke.KEM
	kdf  hpke.KDF
	aead hpke.AEAD
}

// newStdHPKE returns crypto/hpke's algorithms for the suite, or nil when
// the process runs Arbor's own code or crypto/hpke lacks the KEM
// (DHKEM(X448), ML-KEM-512, X-Wing under OpenMLS's KEM ID 0x004D): those
// keep Arbor's key schedule, on the standard library's KDF.
func newStdHPKE(kemID, kdfID, aeadID uint16) *stdHPKE {
	if !stdCrypto {
		return nil
	}
	k, err := hpke.NewKEM(kemID)
	if err != nil {
		return nil
	}
	kdf, err := hpke.NewKDF(kdfID)
	if err != nil {
		return nil
	}
	a, err := hpke.NewAEAD(aeadID)
	if err != nil {
		return nil
	}
	return &stdHPKE{kem: k, kdf: kdf, aead: a}
}

func (s *stdHPKE) seal(pub, info, plaintext []byte) (enc, ciphertext []byte, err error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	enc, sender, err := hpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("ciphersuite: crypto/hpke: %w", err)
	}
	ct, err := sender.Seal(nil, plaintext)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *stdHPKE) recipient(enc, priv, info []byte) (*hpke.Recipient, error) {
	sk, err := s.kem.NewPrivateKey(priv)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid HPKE private key")
	}
	r, err := hpke.NewRecipient(enc, sk, s.kdf, s.aead, info)
	if err != nil {
		return nil, errors.New("ciphersuite: invalid kem output")
	}
	return r, nil
}

func (s *stdHPKE) open(enc, priv, info, ciphertext []byte) ([]byte, error) {
	r, err := s.recipient(enc, priv, info)
	if err != nil {
		return nil, err
	}
	pt, err := r.Open(nil, ciphertext)
	if err != nil {
		return nil, ErrDecryption
	}
	return pt, nil
}

func (s *stdHPKE) exportSender(pub, info, exporterContext []byte, length int) (enc, secret []byte, err error) {
	pk, err := s.kem.NewPublicKey(pub)
	if err != nil {
		return nil, nil, errors.New("ciphersuite: invalid HPKE public key")
	}
	enc, sender, err := hpke.NewSender(pk, s.kdf, s.aead, info)
	if err != nil {
		return nil, nil, fmt.Errorf("ciphersuite: crypto/hpke: %w", err)
	}
	if secret, err = sender.Export(string(exporterContext), length); err != nil {
		return nil, nil, err
	}
	return enc, secret, nil
}

func (s *stdHPKE) exportReceiver(enc, priv, info, exporterContext []byte, length int) ([]byte, error) {
	r, err := s.recipient(enc, priv, info)
	if err != nil {
		return nil, err
	}
	return r.Export(string(exporterContext), length)
}
