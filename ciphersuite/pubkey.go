package ciphersuite

// ValidateHPKEPublicKey checks that pub is an encoded public key of the
// suite's KEM: the right length and every check its encapsulation runs (a
// point on the curve for the NIST curves, the FIPS 203 modulus check for
// ML-KEM and the hybrids). RFC 9420 section 10 requires a KeyPackage's
// init_key and its leaf's encryption_key to be valid for the suite; a bad
// key accepted into a tree would make every later commit fail to encrypt
// to it. X25519 and X448 accept any string of the right length; low-order
// points are rejected when they are used.
func (s *Suite) ValidateHPKEPublicKey(pub []byte) error {
	k := s.hpke.kem
	if err := checkSize("HPKE public key", pub, k.publicKeySize()); err != nil {
		return err
	}
	return k.checkPublicKey(pub)
}
