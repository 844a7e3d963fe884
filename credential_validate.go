package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/arbormls/mls/ciphersuite"
)

// CredentialEvent says why a credential is being validated. RFC 9420
// section 5.3.1 lists the events at which a credential new to the group
// MUST be validated with the Authentication Service.
type CredentialEvent uint8

// The events at which a CredentialValidator is called.
const (
	// CredentialEventKeyPackage: a KeyPackage is about to be used to add its
	// owner, whether downloaded by the adder or received in an Add proposal.
	CredentialEventKeyPackage CredentialEvent = iota + 1
	// CredentialEventJoin: a member of a group this client joins, by
	// Welcome or external Commit (every leaf of the tree it receives).
	CredentialEventJoin
	// CredentialEventUpdate: a member presents a new LeafNode in an Update
	// proposal or in a Commit's UpdatePath. CredentialContext.Previous is
	// the credential it replaces: the validator must also check that the
	// new one is a valid successor of the old one.
	CredentialEventUpdate
	// CredentialEventExternalSender: an entry of an external_senders
	// extension that is being added or changed.
	CredentialEventExternalSender
)

// String returns a short name of e.
func (e CredentialEvent) String() string {
	return enumName(e, "CredentialEvent", "key_package", "join", "update", "external_sender")
}

// CredentialContext tells a CredentialValidator where a credential comes
// from.
type CredentialContext struct {
	Event CredentialEvent
	// Suite is the cipher suite of the group or KeyPackage; the signature
	// key is encoded for it.
	Suite ciphersuite.ID
	// GroupID is the group's ID, or nil for a KeyPackage checked outside
	// any group.
	GroupID []byte
	// Previous is the credential being replaced (CredentialEventUpdate),
	// or nil. It may equal the new one when only the keys changed.
	Previous *Credential
}

// CredentialValidator is the hook to the Authentication Service (RFC 9420
// section 5.3.1). ValidateCredential must check that cred legitimately binds
// the application's identifiers for this client to signatureKey (the
// LeafNode's signature_key or the external sender's key), that those
// identifiers are acceptable, and, when ctx.Previous is set, that they are
// a valid successor of the previous credential's. It returns nil to accept.
//
// The group calls it for every new or changed member, for every external
// sender, and for the members of a group it joins. Implementations must be
// safe for concurrent use: a join may validate many leaves in parallel.
type CredentialValidator interface {
	ValidateCredential(ctx CredentialContext, cred Credential, signatureKey []byte) error
}

// CredentialValidatorFunc adapts a function to a CredentialValidator.
type CredentialValidatorFunc func(ctx CredentialContext, cred Credential, signatureKey []byte) error

// ValidateCredential calls f.
func (f CredentialValidatorFunc) ValidateCredential(ctx CredentialContext, cred Credential, signatureKey []byte) error {
	return f(ctx, cred, signatureKey)
}

// AcceptAllCredentials accepts every credential. It authenticates nobody:
// a basic credential is only a claim, so any client can pose as anyone. Use
// it for tests and for applications that authenticate members some other
// way (for example by comparing epoch authenticators out of band).
var AcceptAllCredentials CredentialValidator = CredentialValidatorFunc(
	func(CredentialContext, Credential, []byte) error { return nil })

// ErrCredentialRejected is wrapped by the errors of the validators this
// package provides when they turn a credential down.
var ErrCredentialRejected = errors.New("mls: credential rejected")

// BasicAllowList returns a validator that accepts basic credentials whose
// identity is one of identities, and no other credential. A member may not
// change its identity: in an update the new identity must equal the
// previous one. It binds no key to the identity, so it suits closed systems
// where the list itself is the authority, and tests.
func BasicAllowList(identities ...string) CredentialValidator {
	allowed := make(map[string]bool, len(identities))
	for _, id := range identities {
		allowed[id] = true
	}
	return CredentialValidatorFunc(func(ctx CredentialContext, cred Credential, _ []byte) error {
		if cred.CredentialType != CredentialTypeBasic {
			return fmt.Errorf("%w: %v credential, want basic", ErrCredentialRejected, cred.CredentialType)
		}
		if !allowed[string(cred.Identity)] {
			return fmt.Errorf("%w: %s not allowed", ErrCredentialRejected, describeCredential(&cred))
		}
		if p := ctx.Previous; p != nil && (p.CredentialType != CredentialTypeBasic || !bytes.Equal(p.Identity, cred.Identity)) {
			return fmt.Errorf("%w: %s cannot succeed %s", ErrCredentialRejected, describeCredential(&cred), describeCredential(p))
		}
		return nil
	})
}
