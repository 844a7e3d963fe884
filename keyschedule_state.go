package mls

import (
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// This file holds the storage encoding of EpochSecrets, part of the group
// state (see group_state.go).

// stateSecrets returns the secrets of e in their storage order: the
// order of the fields in RFC 9420 section 8, joiner and welcome first.
func (e *EpochSecrets) stateSecrets() []*[]byte {
	return []*[]byte{
		&e.joinerSecret, &e.welcomeSecret, &e.senderDataSecret, &e.encryptionSecret,
		&e.exporterSecret, &e.externalSecret, &e.confirmationKey, &e.membershipKey,
		&e.resumptionPSK, &e.epochAuthenticator, &e.initSecret,
	}
}

// marshalState writes e as EpochSecretsState (see group_state.go): one
// optional<opaque> per secret, absent once the secret was erased, so that
// what the deletion schedule removed never comes back with a restored
// group.
func (e *EpochSecrets) marshalState(b *codec.Builder) {
	for _, p := range e.stateSecrets() {
		addOptionalSecret(b, *p)
	}
}

// unmarshalEpochSecretsState reads what marshalState wrote. Every secret
// present must be Nh bytes long.
func unmarshalEpochSecretsState(r *codec.Reader, s *ciphersuite.Suite) *EpochSecrets {
	e := &EpochSecrets{suite: s}
	for _, p := range e.stateSecrets() {
		*p = readOptionalSecret(r, s.HashSize(), "epoch secret")
	}
	if r.Err() != nil {
		e.Erase()
		return nil
	}
	return e
}

// addOptionalSecret writes optional<opaque secret<V>>: absent for nil.
func addOptionalSecret(b *codec.Builder, v []byte) {
	b.AddOptional(v != nil, func(b *codec.Builder) { b.AddOpaque(v) })
}

// readOptionalSecret reads what addOptionalSecret wrote; a present value
// must be size bytes long (what names it in the error).
func readOptionalSecret(r *codec.Reader, size int, what string) []byte {
	if !r.ReadOptional() {
		return nil
	}
	return readSecret(r, size, what)
}

// readSecret reads opaque secret<V>, which must be size bytes long.
func readSecret(r *codec.Reader, size int, what string) []byte {
	v := r.ReadOpaque()
	if r.Err() == nil && len(v) != size {
		clear(v)
		r.SetError(fmt.Errorf("%s of %d bytes, want %d", what, len(v), size))
		return nil
	}
	return v
}
