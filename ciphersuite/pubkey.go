package ciphersuite

import "errors"

// ValidateHPKEPublicKey checks that pub is an encoded public key of the
// suite's KEM: the right length and, on the NIST curves, a point on the
// curve. RFC 9420 section 10 requires a KeyPackage's init_key and its
// leaf's encryption_key to be valid for the suite; a bad key accepted into
// a tree would make every later commit fail to encrypt to it. X25519 and
// X448 accept any string of the right length; low-order points are rejected
// when they are used.
func (s *Suite) ValidateHPKEPublicKey(pub []byte) error {
	k := s.hpke.kem
	if err := checkSize("HPKE public key", pub, k.publicKeySize()); err != nil {
		return err
	}
	if d, ok := k.(*dhkem); ok {
		if g, ok := d.group.(ecdhGroup); ok {
			if _, err := g.curve.NewPublicKey(pub); err != nil {
				return errors.New("ciphersuite: invalid HPKE public key")
			}
		}
	}
	return nil
}
