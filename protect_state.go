package mls

import (
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// This file holds the storage encoding of a ProtectionContext, part of
// the group state (see group_state.go).

// marshalState writes pc as ProtectionState (see group_state.go).
func (pc *ProtectionContext) marshalState(b *codec.Builder) {
	b.AddRaw(pc.gcBytes)
	addOptionalSecret(b, pc.membershipKey)
	addOptionalSecret(b, pc.senderDataSecret)
	b.AddOptional(pc.tree != nil, func(b *codec.Builder) { pc.tree.marshalState(b) })
}

// unmarshalProtectionState reads what marshalState wrote. The context
// must be of suite s; its secret tree gets the bounds of cfg.
func unmarshalProtectionState(r *codec.Reader, s *ciphersuite.Suite, cfg SecretTreeConfig) *ProtectionContext {
	var gc GroupContext
	gc.unmarshal(r)
	mk := readOptionalSecret(r, s.HashSize(), "membership key")
	defer clear(mk)
	sds := readOptionalSecret(r, s.HashSize(), "sender data secret")
	defer clear(sds)
	var tree *SecretTree
	if r.ReadOptional() {
		tree = unmarshalSecretTreeState(r, s, cfg)
	}
	if r.Err() == nil && gc.CipherSuite != s.ID() {
		r.SetError(fmt.Errorf("protection context of suite %v in a group of suite %v", gc.CipherSuite, s.ID()))
	}
	var pc *ProtectionContext
	if r.Err() == nil {
		var err error
		if pc, err = NewProtectionContext(&gc, mk, sds, tree); err != nil {
			r.SetError(err)
		}
	}
	if r.Err() != nil {
		if tree != nil {
			tree.Erase()
		}
		return nil
	}
	return pc
}
