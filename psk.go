package mls

import (
	"errors"
	"math"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// PSKInput is one pre-shared key injected into an epoch: the encoded
// PreSharedKeyID that names it and the PSK value itself.
type PSKInput struct {
	// ID is the encoded PreSharedKeyID (RFC 9420 section 8.4).
	ID []byte
	// Secret is the PSK: an external PSK's value, or the resumption_psk of
	// the epoch the ID names.
	Secret []byte
}

// ComputePSKSecret chains psks into the psk_secret of RFC 9420 section 8.4,
// in the order given (the order of the Commit's PreSharedKey proposals, or of
// GroupSecrets.psks). With no PSKs it returns the all-zero string of length
// Nh, the value the key schedule uses when no PSK is injected.
func ComputePSKSecret(s *ciphersuite.Suite, psks []PSKInput) ([]byte, error) {
	if len(psks) > math.MaxUint16 {
		return nil, errors.New("mls: too many PSKs")
	}
	nh := s.HashSize()
	secret := make([]byte, nh)
	count := uint16(len(psks))
	for i, p := range psks {
		extracted, err := s.Extract(nil, p.Secret)
		if err != nil {
			return nil, err
		}
		b := codec.NewBuilder(len(p.ID) + 4)
		b.AddRaw(p.ID)
		b.AddUint16(uint16(i))
		b.AddUint16(count)
		label, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		input, err := s.ExpandWithLabel(extracted, "derived psk", label, nh)
		clear(extracted)
		if err != nil {
			return nil, err
		}
		// psk_secret_[i] = KDF.Extract(psk_input, psk_secret_[i-1]) taken
		// literally (salt = psk_input), as the pseudocode of section 8.4 and
		// the official vectors have it; the diagram suggests the reverse.
		next, err := s.Extract(input, secret)
		clear(input)
		clear(secret)
		if err != nil {
			return nil, err
		}
		secret = next
	}
	return secret, nil
}
