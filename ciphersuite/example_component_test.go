package ciphersuite_test

import (
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// A component of the application (here number 42) signs with a member's
// MLS signature key; the signature verifies for that component only.
func ExampleSuite_SafeSignWithLabel() {
	s, _ := ciphersuite.Lookup(ciphersuite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	key, _ := s.GenerateSigningKey()
	const reactions ciphersuite.ComponentID = 42
	sig, _ := s.SafeSignWithLabel(key, reactions, "reaction", []byte("thumbs up"))

	fmt.Println(s.SafeVerifyWithLabel(key.PublicKey(), reactions, "reaction", []byte("thumbs up"), sig))
	fmt.Println(s.SafeVerifyWithLabel(key.PublicKey(), 43, "reaction", []byte("thumbs up"), sig) != nil)
	// Output:
	// <nil>
	// true
}
